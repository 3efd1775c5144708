"""Shared pytest fixtures: real servers on 127.0.0.1 (see tests/support/, DESIGN.md section 9).

Fixtures (all yield a started server; teardown stops it even if the test failed, and a
failed test gets the server's log tail in its report):

- ``snmpsim`` (session): SnmpSim serving collectors/snmp/testdata/ + tests/testdata/snmp/
- ``snmpsim_factory`` (function): ``make(data_dir, ports=1) -> SnmpSim``
- ``snmpd`` (session): net-snmp agent with SNMPv3 users
- ``mosquitto`` (function), ``mosquitto_factory(persistence=False, tls=False)``
- ``influxdb1`` (function): fresh influxd with database ``sentinelle`` (``influxdb1.db``)
- ``influxdb1_factory`` / ``victoria_metrics_factory`` (function): extra instances
- ``victoria_metrics`` (function): fresh VictoriaMetrics

Every server: ``host``, ``port``, ``url``, ``workdir``, ``log_path``, ``start()``, ``stop()``,
``kill()`` (crash), ``restart()``, and ``astart()``/``astop()``/``arestart()`` for async tests
(the blocking start runs in a thread, so an agent in the event loop keeps running). Restarts
keep the port and the data. Do not stop the session-scoped ``snmpsim``/``snmpd``: use the
factories for outage tests.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.influxdb1 import InfluxDB1
from tests.support.mosquitto import Mosquitto
from tests.support.process import ServerError, _Server
from tests.support.snmpd import Snmpd
from tests.support.snmpsim import SnmpSim
from tests.support.victoriametrics import VictoriaMetrics

REPO = Path(__file__).resolve().parent.parent
SNMP_RECORDINGS = REPO / "collectors" / "snmp" / "testdata"
SNMP_TEST_RECORDINGS = REPO / "tests" / "testdata" / "snmp"


# -- report server logs of failed tests ------------------------------------------------


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def _failed(request: pytest.FixtureRequest) -> bool:
    for when in ("setup", "call"):
        rep = getattr(request.node, f"rep_{when}", None)
        if rep is not None and rep.failed:
            return True
    return False


def _teardown(request: pytest.FixtureRequest, servers: list[_Server]) -> None:
    failed = _failed(request) if request.scope == "function" else False
    for srv in servers:
        if failed:
            sys.stderr.write(f"\n----- {srv!r} log tail -----\n{srv.log_tail(60)}\n")
        srv.stop()  # work dirs live under pytest's basetemp, which prunes old runs itself


# -- SNMP ------------------------------------------------------------------------------


def union_dir(target: Path, *sources: Path) -> Path:
    """Copy every ``*.snmprec`` of ``sources`` (keeping sub-paths) into ``target``.

    Copies, not symlinks: snmpsim derives a symlinked recording's community by dropping as many
    leading components of the link *target* as the data dir has, so symlinks only worked where
    the checkout happened to sit at the same depth as the temp dir (CI at /check/work/main
    did not). 1.5 MB of text; the copy is instant.
    """
    target.mkdir(parents=True, exist_ok=True)
    for src in sources:
        if not src.is_dir():
            continue
        for rec in sorted(src.rglob("*.snmprec")):
            dest = target / rec.relative_to(src)
            if dest.exists():
                raise ServerError(f"duplicate recording {rec.relative_to(src)} in {src} and another source")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(rec, dest)
    return target


@pytest.fixture(scope="session")
def snmpsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpSim]:
    """One simulator for the whole session; community = recording name (e.g. ``apc-ap8641``)."""
    base = tmp_path_factory.mktemp("snmpsim")
    data = union_dir(base / "data", SNMP_RECORDINGS, SNMP_TEST_RECORDINGS)
    srv = SnmpSim(data, workdir=base / "run")
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def snmpsim_factory(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Callable[..., SnmpSim]]:
    """``make(data_dir, ports=1)``: a started simulator for an arbitrary recordings folder."""
    made: list[_Server] = []

    def make(data_dir: str | Path, ports: int = 1) -> SnmpSim:
        srv = SnmpSim(data_dir, ports=ports, workdir=tmp_path_factory.mktemp("snmpsim-f"))
        made.append(srv)
        return srv.start()  # type: ignore[return-value]

    try:
        yield make
    finally:
        _teardown(request, made)


@pytest.fixture(scope="session")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    """net-snmp snmpd: ``user``/``auth_*``/``priv_*`` (SHA/AES), ``user512`` (SHA-512/AES-256),
    ``noauth_user``, community ``public``."""
    srv = Snmpd(workdir=tmp_path_factory.mktemp("snmpd"))
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


# -- MQTT ------------------------------------------------------------------------------


@pytest.fixture
def mosquitto_factory(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Mosquitto]]:
    """``make(persistence=False, tls=False) -> Mosquitto`` (started)."""
    made: list[_Server] = []

    def make(persistence: bool = False, tls: bool = False) -> Mosquitto:
        srv = Mosquitto(persistence=persistence, tls=tls, workdir=tmp_path_factory.mktemp("mosquitto"))
        made.append(srv)
        return srv.start()  # type: ignore[return-value]

    try:
        yield make
    finally:
        _teardown(request, made)


@pytest.fixture
def mosquitto(mosquitto_factory: Callable[..., Mosquitto]) -> Mosquitto:
    """Plain anonymous broker, no persistence: ``host``, ``port``, ``url``."""
    return mosquitto_factory()


# -- sinks -----------------------------------------------------------------------------


@pytest.fixture
def influxdb1_factory(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Callable[..., InfluxDB1]]:
    """``make(db="sentinelle") -> InfluxDB1`` (started, database created, ``.db`` set)."""
    made: list[_Server] = []

    def make(db: str | None = "sentinelle") -> InfluxDB1:
        srv = InfluxDB1(workdir=tmp_path_factory.mktemp("influxd"))
        made.append(srv)
        srv.start()
        if db:
            srv.create_database(db)
            srv.db = db
        return srv

    try:
        yield make
    finally:
        _teardown(request, made)


@pytest.fixture
def influxdb1(influxdb1_factory: Callable[..., InfluxDB1]) -> InfluxDB1:
    """Fresh influxd 1.6 with database ``sentinelle`` (``.db``); ``url``, ``query()``, ``write()``."""
    return influxdb1_factory()


@pytest.fixture
def victoria_metrics_factory(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Callable[[], VictoriaMetrics]]:
    made: list[_Server] = []

    def make() -> VictoriaMetrics:
        srv = VictoriaMetrics(workdir=tmp_path_factory.mktemp("victoria-metrics"))
        made.append(srv)
        return srv.start()  # type: ignore[return-value]

    try:
        yield make
    finally:
        _teardown(request, made)


@pytest.fixture
def victoria_metrics(victoria_metrics_factory: Callable[[], VictoriaMetrics]) -> VictoriaMetrics:
    """Fresh VictoriaMetrics: ``url``, ``write()``, ``export()``, ``count_points()``, ``flush()``."""
    return victoria_metrics_factory()
