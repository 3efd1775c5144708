"""The spool's cap bounds its size on disk (issue 15): database + `-wal` + `-shm` stay within
`max_bytes` plus the stated fixed overhead (`Spool.disk_overhead()`), during a long outage that
keeps the spool full and evicting, and after draining. Measured with `os.stat` on the real files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sentinelle.agent.core import Point
from sentinelle.agent.spool import Spool

T0 = 1_700_000_000_000_000_000


def on_disk(path: Path) -> int:
    return sum(os.stat(f"{path}{suffix}").st_size for suffix in ("", "-wal", "-shm") if os.path.exists(f"{path}{suffix}"))


def poll(k: int, devices: int = 40) -> list[Point]:
    """One poll of a small site: interface counters (evicted first), PDU power, energy."""
    points = [Point("interface", {"site": "nro-lannion", "device": f"sw-{d}", "ifname": f"ge-0/0/{d % 24}"},
                    {"in_octets": k * 1000 + d, "out_octets": k * 7 + d, "oper_up": True}, T0 + k * 60 * 10**9)
              for d in range(devices)]
    points += [Point("pdu", {"site": "nro-lannion", "device": f"pdu-{d}"}, {"power_w": 230.5 + d},
                     T0 + k * 60 * 10**9) for d in range(devices // 4)]
    points.append(Point("energy", {"site": "nro-lannion", "meter": "it"}, {"kwh": 1.25}, T0 + k * 60 * 10**9))
    return points


@pytest.mark.parametrize(("max_bytes", "devices"), [(150_000, 40), (1_000_000, 40), (9 * 1024**2, 800)])
async def test_disk_stays_within_the_cap_during_an_outage_and_after_draining(tmp_path: Path, max_bytes: int,
                                                                             devices: int) -> None:
    path = tmp_path / "spool.db"
    # Enough polls to fill the cap three times over (the dead sink never acks); 9 MiB: 4 KiB pages.
    polls = 3 * max_bytes // (devices * 130)
    async with Spool.opened(path, sinks=["central"], max_bytes=max_bytes) as spool:
        limit = max_bytes + spool.disk_overhead()
        peak = 0
        for k in range(polls):
            await spool.append(poll(k, devices))
            peak = max(peak, on_disk(path))
            assert peak <= limit, f"poll {k}: {peak} bytes on disk, cap {max_bytes} + {spool.disk_overhead()}"
        stats = await spool.stats()
        assert stats.dropped > 0  # the outage really filled the spool
        # And the cap is used, not dodged by keeping nothing: a quarter of it at least is queued
        # lines (the rest: row headers, three B-trees, page slack left by eviction, the WAL).
        assert stats.bytes > max_bytes / 4
        assert stats.file_bytes <= limit
        while batch := await spool.read_batch("central", 5000):
            await spool.ack("central", [i for i, _ in batch])
            assert on_disk(path) <= limit
        assert spool.pending("central") == 0
        # Drained: what is left on disk is the fixed overhead (schema, -shm, some WAL room).
        assert on_disk(path) <= spool.disk_overhead()
    assert on_disk(path) <= spool.disk_overhead()


async def test_reopened_spool_keeps_its_page_size_and_the_bound(tmp_path: Path) -> None:
    """A file created with a large cap (4 KiB pages), reopened with a small one: still bounded."""
    path = tmp_path / "spool.db"
    async with Spool.opened(path, sinks=["a"], max_bytes=64 * 1024**2) as spool:
        await spool.append(poll(0))
    async with Spool.opened(path, sinks=["a"], max_bytes=400_000) as spool:
        for k in range(1, 400):
            await spool.append(poll(k))
            assert on_disk(path) <= 400_000 + spool.disk_overhead()
        assert spool.bytes > 400_000 / 4
