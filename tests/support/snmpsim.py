"""``snmpsim-command-responder`` serving recordings, for SNMP collection tests."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.ports import HOST, free_udp_ports, udp_port_held_by_other
from tests.support.process import VENV_BIN, PortInUse, ServerError, _Server, find_binary
from tests.support.snmp_probe import udp_snmp_probe


class SnmpSim(_Server):
    """``snmpsim-command-responder`` serving ``*.snmprec`` files of ``data_dir``.

    The v2c community is the recording's path relative to data_dir without ``.snmprec``
    (``apc-ap8641.snmprec`` -> community ``apc-ap8641``). ``ports=N`` opens N UDP endpoints
    in one process (``self.ports``); every endpoint serves every recording.
    """

    name = "snmpsim"
    package = "snmpsim (PyPI, in the venv)"
    startup_timeout = 60.0  # first start indexes the recordings (about 1 s per MB)

    def __init__(self, data_dir: str | Path, ports: int = 1, workdir: str | Path | None = None) -> None:
        super().__init__(workdir)
        self.data_dir = Path(data_dir).resolve()
        recs = sorted(self.data_dir.rglob("*.snmprec"))
        if not recs:
            raise ServerError(f"no .snmprec recordings in {self.data_dir}")
        self.communities = [str(p.relative_to(self.data_dir))[: -len(".snmprec")] for p in recs]
        self._nports = ports
        self._allocate_ports()
        self.cache_dir = self.workdir / "cache"

    def _allocate_ports(self) -> None:
        self.ports = free_udp_ports(self._nports)
        self.port = self.ports[0]
        self.url = f"udp://{HOST}:{self.port}"

    def _argv(self) -> list[str]:
        exe = find_binary("snmpsim-command-responder", self.package, [VENV_BIN])
        argv = [exe, f"--data-dir={self.data_dir}", f"--cache-dir={self.cache_dir}", "--log-level=error"]
        argv += [f"--agent-udpv4-endpoint={HOST}:{p}" for p in self.ports]
        return argv

    def _prepare(self) -> None:
        self._answered: set[int] = set()

    def _env(self) -> dict[str, str]:
        return {**os.environ, "SNMPSIM_ALLOW_ROOT": "true", "PYTHONUNBUFFERED": "1"}

    def _ready(self) -> bool:
        # One socket probes every endpoint (500 snmpget runs would take seconds); ports that
        # answered once are not probed again, so UDP drops under a burst cannot stall us.
        todo = [p for p in self.ports if p not in self._answered]
        self._answered |= udp_snmp_probe(todo, self.communities[0], timeout=0.5)
        missing = set(self.ports) - self._answered
        for p in sorted(missing):
            # pysnmp 7 logs "Listening at" even when its bind() failed: check by hand.
            if self.proc is not None and udp_port_held_by_other(p, self.proc.pid):
                raise PortInUse(f"UDP port {p} is held by another process")
        return not missing
