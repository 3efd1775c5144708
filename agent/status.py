"""The agent's HTTP face for operators and orchestrators: `/metrics`, `/healthz`, `/readyz`.

Bound to 127.0.0.1 by default: the numbers are harmless, but an agent in an NRO shelter should
not open a port to the network unless the technician decides so.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from sentinelle.agent.selfmetrics import AgentMetrics

ReadinessCheck = Callable[[], tuple[bool, dict[str, object]]]


class StatusServer:
    def __init__(self, metrics: AgentMetrics, readiness: ReadinessCheck, host: str = "127.0.0.1", port: int = 9273):
        self.metrics = metrics
        self.readiness = readiness
        self.host = host
        self.port = port
        self.started = time.time()
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        return app

    async def __aenter__(self) -> StatusServer:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        # With port 0 the OS picked one: report the real port.
        server = site._server  # noqa: SLF001 - aiohttp exposes no public accessor
        if server is not None and getattr(server, "sockets", None):
            self.port = server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        body = self.metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        # Answering at all proves the event loop is not stuck.
        return web.json_response({"status": "ok", "uptime_s": round(time.time() - self.started, 1)})

    async def _readyz(self, request: web.Request) -> web.Response:
        ready, detail = self.readiness()
        return web.json_response({"ready": ready, **detail}, status=200 if ready else 503)
