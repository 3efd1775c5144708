"""File sink: appends line protocol to a file, one fsync per batch. For debugging and for
feeding another tool (`influx write --file`, Telegraf's `tail` input)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sentinelle.agent.core import Point
from sentinelle.agent.sinks.base import SinkUnavailable, SinkUnsupported, TagFilter


class FileSink:
    def __init__(self, name: str, path: Path, *, create: bool = True):
        self.name = name
        self.path = Path(path)
        self.create = create
        self._lock = asyncio.Lock()

    def _append(self, body: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            view = memoryview(body)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)

    async def write(self, lines: list[bytes]) -> None:
        if not lines:
            return
        body = b"\n".join(lines) + b"\n"
        async with self._lock:
            try:
                await asyncio.to_thread(self._append, body)
            except OSError as exc:
                raise SinkUnavailable(f"{self.name}: cannot append to {self.path}: {exc.strerror or exc}") from None

    async def check(self) -> None:
        if not self.create:
            problem = writable_problem(self.path)
            if problem:
                raise SinkUnavailable(f"{self.name}: {problem}")
            return
        try:
            await asyncio.to_thread(self._append, b"")
        except OSError as exc:
            raise SinkUnavailable(f"{self.name}: cannot write {self.path}: {exc.strerror or exc}") from None

    async def read(self, measurement: str, start_ns: int, end_ns: int,
                   tags: TagFilter | None = None) -> list[Point]:
        raise SinkUnsupported(f"{self.name}: a file sink cannot be read back (it only appends line protocol)")

    async def delete(self, measurement: str, start_ns: int, end_ns: int, tags: TagFilter | None = None) -> None:
        raise SinkUnsupported(f"{self.name}: a file sink cannot delete points (it only appends line protocol)")

    async def close(self) -> None:
        return None


def writable_problem(path: Path) -> str | None:
    """Why `path` could not be written or created (None if it could), without creating it."""
    if path.exists():
        return None if os.access(path, os.W_OK) else f"{path} is not writable by this user"
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot create {path}: {parent} is not writable by this user"
    return None
