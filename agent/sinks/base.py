"""What a sink is, and the three ways a write can fail that the forwarder treats differently."""

from __future__ import annotations

from typing import Protocol


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
