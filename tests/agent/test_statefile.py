"""agent/statefile.py: the one durable writer of JSON state files."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinelle.agent.statefile import read_json, write_atomic, write_json


def test_round_trip_replaces_the_old_state_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / "dev.json"
    write_json(path, {"a": 1})
    write_json(path, {"a": 2, "b": [1, 2]})
    assert read_json(path) == {"a": 2, "b": [1, 2]}
    assert sorted(p.name for p in path.parent.iterdir()) == ["dev.json"]


def test_a_value_that_cannot_be_written_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        write_json(path, {"a": object()})
    assert read_json(path) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    write_atomic(path, b"{}")
    (tmp_path / "dev.json.tmp").mkdir()  # the temporary name cannot be opened as a file
    with pytest.raises(OSError):
        write_atomic(path, b'{"a": 1}')
    assert read_json(path) == {}


def test_missing_or_damaged_files_read_as_no_state(tmp_path: Path) -> None:
    assert read_json(tmp_path / "absent.json") is None
    (tmp_path / "bad.json").write_bytes(b'{"a": ')
    assert read_json(tmp_path / "bad.json") is None


def test_same_directory_temporary_name_keeps_other_suffixes_apart(tmp_path: Path) -> None:
    # `energy.json` and `energy.state` must not share one temporary file (with_suffix did).
    write_json(tmp_path / "energy.json", 1)
    write_json(tmp_path / "energy.state", 2)
    assert read_json(tmp_path / "energy.json") == 1 and read_json(tmp_path / "energy.state") == 2
