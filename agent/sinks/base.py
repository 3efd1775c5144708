"""What a sink is, and the three ways a write can fail that the forwarder treats differently."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sentinelle.agent.core import Point

GZIP_MIN_BYTES = 1024  # below this, gzip's header costs more than it saves
GZIP_THREAD_BYTES = 256 * 1024  # above this, compress off the event loop (zlib releases the GIL)
GZIP_LEVEL = 5  # most of level 9's gain for a third of its time (9 is gzip's default)
PROBE_TIMEOUT = 2.0  # a liveness answer is instant; a probe must not hold the retry loop longer


class SinkError(Exception):
    """Base of write failures. Messages must never contain a token or password."""


class SinkUnavailable(SinkError):
    """Try again later: network error, timeout, 5xx, 429. `retry_after` (seconds) from the
    server's Retry-After header when it sent one."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class SinkUnreachable(SinkUnavailable):
    """No HTTP answer at all (connection refused, reset, timeout, DNS): the server is down or
    cut off. While it is, the forwarder polls the sink's cheap `probe()` instead of resending
    data, so the first write follows the server's return within one probe period."""


class SinkTooLarge(SinkError):
    """413: the batch is too big; the forwarder splits it."""


class SinkRejected(SinkError):
    """400 (or equivalent): the sink refuses these lines as malformed. Retrying is pointless;
    the forwarder narrows the batch down and sets the bad lines aside in the dead-letter table."""


class SinkUnsupported(SinkError):
    """The sink cannot do this at all (a file sink cannot be read back or deleted from): the
    command says so in one line instead of trying."""


TagFilter = Mapping[str, Collection[str]]  # a series matches when its tag `k` is one of `filter[k]`


class Sink(Protocol):
    name: str

    async def write(self, lines: list[bytes]) -> None:
        """Write line-protocol lines (no trailing newline each). Raise a `SinkError` subclass."""
        ...

    async def check(self) -> None:
        """Reachability and credentials, for `sentinelle check`. Raise `SinkError` if not usable."""
        ...

    async def read(self, measurement: str, start_ns: int, end_ns: int,
                   tags: TagFilter | None = None) -> list[Point]:
        """Stored points of `measurement` in [start_ns, end_ns) whose tags match `tags`: what
        the report, `import` (live coverage) and `recompute` read back. Raise `SinkError`
        (`SinkUnsupported` for a sink that cannot be read)."""
        ...

    async def delete(self, measurement: str, start_ns: int, end_ns: int, tags: TagFilter | None = None) -> None:
        """Delete the points `read` would return (`recompute` replaces superseded carbon points).
        Raise `SinkError` (`SinkUnsupported` for a sink without a delete)."""
        ...

    # Optional: `async def probe(self) -> None`, a cheap liveness request (no data, no auth
    # needed: InfluxDB `/ping`, VictoriaMetrics `/health`) that returns once the server answers
    # and raises `SinkUnreachable` while it does not. Sinks without a server have none.

    async def close(self) -> None: ...


async def gzip_body(body: bytes) -> bytes | None:
    """The gzip of a request body worth compressing, or None. Large bodies are compressed in a
    worker thread, so a batch of a bulk import never holds the event loop for tens of ms."""
    if len(body) < GZIP_MIN_BYTES:
        return None
    if len(body) < GZIP_THREAD_BYTES:
        return gzip.compress(body, compresslevel=GZIP_LEVEL)
    return await asyncio.to_thread(gzip.compress, body, GZIP_LEVEL)
