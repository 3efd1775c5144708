"""Durable JSON state files (counter books, identity caches, gateway health, energy readings).

One writer for all of them, because a state file that is half written or lost after a power
cut costs a delta or, worse, a reading counted twice: the bytes go to a temporary file in the
same directory, are fsynced, renamed over the old file (atomic on POSIX), and the directory is
fsynced so the rename itself survives a crash. A reader treats a missing or damaged file as
"no state" and never crashes the agent.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` by `data`: after a crash the file holds either the old or the new bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_directory(path.parent)


def write_json(path: Path, data: Any) -> None:
    """Serialise first (a value that cannot be written never touches the old file), then write."""
    write_atomic(path, json.dumps(data, separators=(",", ":")).encode("utf-8"))


def read_json(path: Path) -> Any:
    """The decoded file, or None when it is missing or damaged (an empty state, never a crash)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _fsync_directory(directory: Path) -> None:
    # Makes the rename durable. Some filesystems refuse to open a directory: the data file is
    # already fsynced, so the worst case there is the old state after a crash, as before.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def adopt_legacy_state(files: Iterable[Path], state_dir: Path) -> None:
    """Move state files an older release kept elsewhere into `state_dir`, so an upgrade loses no
    counter or gateway history. A file already present in `state_dir` wins (it is newer)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    for old in files:
        if not old.is_file():
            continue
        new = state_dir / old.name
        if new.exists():
            continue
        os.replace(old, new)
