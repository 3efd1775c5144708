"""What a sink is, and the three ways a write can fail that the forwarder treats differently."""

from __future__ import annotations

import asyncio
import gzip
from typing import Protocol

GZIP_MIN_BYTES = 1024  # below this, gzip's header costs more than it saves
GZIP_THREAD_BYTES = 256 * 1024  # above this, compress off the event loop (zlib releases the GIL)
GZIP_LEVEL = 5  # most of level 9's gain for a third of its time (9 is gzip's default)


class SinkError(Exception):
    """Base of write failures. Messages must never contain a token or password."""


class SinkUnavailable(SinkError):
    """Try again later: network error, timeout, 5xx, 429. `retry_after` (seconds) from the
    server's Retry-After header when it sent one."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class SinkTooLarge(SinkError):
    """413: the batch is too big; the forwarder splits it."""


class SinkRejected(SinkError):
    """400 (or equivalent): the sink refuses these lines as malformed. Retrying is pointless;
    the forwarder narrows the batch down and sets the bad lines aside in the dead-letter table."""


class Sink(Protocol):
    name: str

    async def write(self, lines: list[bytes]) -> None:
        """Write line-protocol lines (no trailing newline each). Raise a `SinkError` subclass."""
        ...

    async def check(self) -> None:
        """Reachability and credentials, for `sentinelle check`. Raise `SinkError` if not usable."""
        ...

    async def close(self) -> None: ...


async def gzip_body(body: bytes) -> bytes | None:
    """The gzip of a request body worth compressing, or None. Large bodies are compressed in a
    worker thread, so a batch of a bulk import never holds the event loop for tens of ms."""
    if len(body) < GZIP_MIN_BYTES:
        return None
    if len(body) < GZIP_THREAD_BYTES:
        return gzip.compress(body, compresslevel=GZIP_LEVEL)
    return await asyncio.to_thread(gzip.compress, body, GZIP_LEVEL)
