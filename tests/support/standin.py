"""A stand-in HTTP server for the answers no server installable here gives on demand
(413, 429 with Retry-After, 503, 401 with a chatty body): a small aiohttp app on 127.0.0.1 that
records each request and replies what a test's `respond(request, body)` returns. Used only for
those statuses; everything a real server can show is tested against a real one."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from tests.support.ports import free_tcp_port

Respond = Callable[[web.Request, bytes], web.Response]


class StandIn:
    def __init__(self, respond: Respond):
        self.respond = respond
        self.requests: list[tuple[float, web.Request, bytes]] = []  # (monotonic time, request, body)
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()  # aiohttp's server undoes Content-Encoding: gzip itself
        self.requests.append((time.monotonic(), request, body))
        return self.respond(request, body)


@contextlib.asynccontextmanager
async def standin_servers() -> AsyncIterator[Callable[[Respond], Awaitable[StandIn]]]:
    """Yields `start(respond) -> StandIn`; every server started is cleaned up on exit."""
    runners: list[web.AppRunner] = []

    async def start(respond: Respond) -> StandIn:
        server = StandIn(respond)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", server._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        port = free_tcp_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        server.url = f"http://127.0.0.1:{port}"
        return server

    try:
        yield start
    finally:
        for runner in runners:
            await runner.cleanup()
