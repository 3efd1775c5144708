"""Smoke tests of the real-server test bed: each server really answers its protocol."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import SNMP_RECORDINGS
from tests.support.influxdb1 import InfluxDB1
from tests.support.mosquitto import Mosquitto
from tests.support.process import ServerError, find_binary
from tests.support.snmp_probe import snmpget
from tests.support.snmpd import Snmpd
from tests.support.snmpsim import SnmpSim
from tests.support.victoriametrics import VictoriaMetrics

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"


def test_missing_binary_names_the_package() -> None:
    with pytest.raises(ServerError, match="apt-get install some-debian-pkg"):
        find_binary("sentinelle-no-such-binary", "some-debian-pkg")


# -- SNMP ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("community", "descr", "object_id"),
    [
        ("apc-ap8641", "MN:AP8641", ".1.3.6.1.4.1.318.1.3.4.6"),
        ("eaton-93e-ups", "EATON 93E 80", ".1.3.6.1.4.1.705.1"),
        ("cisco-c3750-switch", "C3750 Software", ".1.3.6.1.4.1.9.1.516"),
        ("arista-entity-sensor", "Arista Networks EOS", ".1.3.6.1.4.1.30065.1.3011.7150.3282.52.2745"),
    ],
)
def test_snmpsim_serves_recordings(snmpsim: SnmpSim, community: str, descr: str, object_id: str) -> None:
    r = snmpget(snmpsim.port, [SYS_DESCR, SYS_OBJECT_ID], community=community, timeout=2, retries=1)
    assert r.returncode == 0, r.stderr
    assert descr in r.stdout
    assert f"OID: {object_id}\n" in r.stdout


def test_snmpsim_unknown_community_gets_no_answer(snmpsim: SnmpSim) -> None:
    r = snmpget(snmpsim.port, [SYS_DESCR], community="no-such-recording", timeout=0.5)
    assert r.returncode != 0 and "Timeout" in r.stderr


def test_snmpsim_factory_several_ports_and_restart(
    snmpsim_factory: Callable[..., SnmpSim], tmp_path: Path
) -> None:
    data = tmp_path / "recs"
    data.mkdir()
    shutil.copy(SNMP_RECORDINGS / "eaton-93e-ups.snmprec", data / "ups-1.snmprec")
    sim = snmpsim_factory(data, ports=3)
    assert len(set(sim.ports)) == 3 and sim.port == sim.ports[0]
    for port in sim.ports:
        r = snmpget(port, [SYS_OBJECT_ID], community="ups-1", timeout=2, retries=1)
        assert r.returncode == 0 and ".1.3.6.1.4.1.705.1" in r.stdout, r.stderr
    ports = list(sim.ports)
    sim.stop()
    assert snmpget(sim.port, [SYS_OBJECT_ID], community="ups-1", timeout=0.3).returncode != 0
    sim.start()
    assert sim.ports == ports
    assert snmpget(sim.port, [SYS_OBJECT_ID], community="ups-1", timeout=2, retries=1).returncode == 0


@pytest.mark.parametrize("kind", ["sha-aes128", "sha512-aes256", "sha-aes256"])
def test_snmpd_v3_authpriv_cli(snmpd: Snmpd, kind: str) -> None:
    creds = snmpd.v3(sha512=kind == "sha512-aes256", aes256=kind == "sha-aes256")
    r = snmpget(snmpd.port, [SYS_UPTIME, "1.3.6.1.2.1.1.6.0"], v3=creds, timeout=2)
    assert r.returncode == 0, r.stderr
    assert "Timeticks" in r.stdout and snmpd.sys_location in r.stdout


def test_snmpd_rejects_wrong_priv_key(snmpd: Snmpd) -> None:
    creds = {**snmpd.v3(), "priv_key": "wrong-priv-key-123"}
    r = snmpget(snmpd.port, [SYS_UPTIME], v3=creds, timeout=0.5)
    assert r.returncode != 0


def test_snmpd_v2c_and_noauth(snmpd: Snmpd) -> None:
    assert snmpget(snmpd.port, [SYS_UPTIME], community=snmpd.community, timeout=2).returncode == 0
    r = snmpget(snmpd.port, [SYS_UPTIME], v3={"user": snmpd.noauth_user, "level": "noAuthNoPriv"}, timeout=2)
    assert r.returncode == 0, r.stderr


async def _pysnmp_get(snmpd: Snmpd, user: object) -> tuple[object, object, list]:
    from pysnmp.hlapi.v3arch.asyncio import (
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        UdpTransportTarget,
        get_cmd,
    )

    engine = SnmpEngine()
    try:
        target = await UdpTransportTarget.create((snmpd.host, snmpd.port), timeout=1, retries=1)
        err_ind, err_status, _idx, binds = await get_cmd(
            engine, user, target, ContextData(), ObjectType(ObjectIdentity(SYS_UPTIME))
        )
    finally:
        engine.close_dispatcher()
    return err_ind, err_status, list(binds)


@pytest.mark.parametrize("kind", ["sha-aes128", "sha512-aes256", "sha-aes256"])
async def test_snmpd_v3_authpriv_pysnmp(snmpd: Snmpd, kind: str) -> None:
    """Pins the pysnmp protocol objects matching net-snmp's names (AES-256 = Blumenthal)."""
    from pysnmp.hlapi.v3arch.asyncio import (
        UsmUserData,
        usmAesBlumenthalCfb256Protocol,
        usmAesCfb128Protocol,
        usmHMAC384SHA512AuthProtocol,
        usmHMACSHAAuthProtocol,
    )

    c = snmpd.v3(sha512=kind == "sha512-aes256", aes256=kind == "sha-aes256")
    auth = usmHMAC384SHA512AuthProtocol if kind == "sha512-aes256" else usmHMACSHAAuthProtocol
    priv = usmAesCfb128Protocol if kind == "sha-aes128" else usmAesBlumenthalCfb256Protocol
    user = UsmUserData(c["user"], c["auth_key"], c["priv_key"], authProtocol=auth, privProtocol=priv)
    err_ind, err_status, binds = await _pysnmp_get(snmpd, user)
    assert err_ind is None and not err_status, (err_ind, err_status)
    assert int(binds[0][1]) >= 0


async def test_snmpd_aes256_is_not_the_cisco_variant(snmpd: Snmpd) -> None:
    """net-snmp AES-256 + SHA-1 != pysnmp usmAesCfb256Protocol (Reeder key extension)."""
    from pysnmp.hlapi.v3arch.asyncio import UsmUserData, usmAesCfb256Protocol, usmHMACSHAAuthProtocol

    c = snmpd.v3(aes256=True)
    user = UsmUserData(
        c["user"],
        c["auth_key"],
        c["priv_key"],
        authProtocol=usmHMACSHAAuthProtocol,
        privProtocol=usmAesCfb256Protocol,
    )
    err_ind, _status, _binds = await _pysnmp_get(snmpd, user)
    assert err_ind is not None


# -- MQTT ------------------------------------------------------------------------------


def _sub(
    broker: Mosquitto, *args: str, count: int = 1, wait: int = 5, port: int | None = None
) -> subprocess.CompletedProcess[str]:
    exe = find_binary("mosquitto_sub", "mosquitto-clients")
    argv = [exe, "-h", broker.host, "-p", str(port or broker.port), "-C", str(count), "-W", str(wait), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=wait + 5)


def _pub(broker: Mosquitto, *args: str, port: int | None = None) -> None:
    exe = find_binary("mosquitto_pub", "mosquitto-clients")
    r = subprocess.run(
        [exe, "-h", broker.host, "-p", str(port or broker.port), *args],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert r.returncode == 0, r.stderr


def test_mosquitto_pub_sub(mosquitto: Mosquitto) -> None:
    _pub(mosquitto, "-t", "sentinelle/test", "-m", '{"temp": 21.5}', "-r", "-q", "1")
    r = _sub(mosquitto, "-t", "sentinelle/#", "-v")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == 'sentinelle/test {"temp": 21.5}'


def test_mosquitto_persistent_session_survives_restart(mosquitto_factory: Callable[..., Mosquitto]) -> None:
    broker = mosquitto_factory(persistence=True)
    port = broker.port
    # Register a persistent session (clean session off) subscribed at QoS 1, then go away.
    r = _sub(broker, "-i", "sentinelle-agent", "-c", "-q", "1", "-t", "lora/up", "-W", "1")
    assert "Timed out" in r.stderr or r.returncode != 0
    _pub(broker, "-t", "lora/up", "-m", "queued-while-offline", "-q", "1")
    broker.stop()
    broker.start()
    assert broker.port == port
    r = _sub(broker, "-i", "sentinelle-agent", "-c", "-q", "1", "-t", "lora/up")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "queued-while-offline"


def test_mosquitto_tls(mosquitto_factory: Callable[..., Mosquitto]) -> None:
    broker = mosquitto_factory(tls=True)
    assert broker.ca_path is not None and broker.ca_path.is_file() and broker.tls_port
    tls = ["--cafile", str(broker.ca_path)]
    _pub(broker, "-t", "secure/x", "-m", "hello", "-r", *tls, port=broker.tls_port)
    r = _sub(broker, "-t", "secure/x", *tls, port=broker.tls_port)
    assert r.returncode == 0 and r.stdout.strip() == "hello", r.stderr
    # Plain listener still works alongside.
    assert _sub(broker, "-t", "secure/x").stdout.strip() == "hello"


# -- InfluxDB 1.x ----------------------------------------------------------------------


def test_influxdb1_write_query_restart(influxdb1: InfluxDB1) -> None:
    assert influxdb1.db == "sentinelle"
    influxdb1.write("power,site=mairie,device=pdu1 watts=412.5,energy_wh=123456i 1700000000000000000")
    rows = influxdb1.points('SELECT "watts", "energy_wh" FROM "power" GROUP BY *')
    assert rows == [
        {
            "time": 1700000000000000000,
            "watts": 412.5,
            "energy_wh": 123456,
            "device": "pdu1",
            "site": "mairie",
            "_measurement": "power",
        }
    ]
    port = influxdb1.port
    influxdb1.stop()
    with pytest.raises(OSError):
        import urllib.request

        urllib.request.urlopen(f"{influxdb1.url}/ping", timeout=1)
    influxdb1.start()
    assert influxdb1.port == port
    res = influxdb1.query('SELECT count("watts") FROM "power"', db="sentinelle")
    assert res["results"][0]["series"][0]["values"][0][1] == 1


def test_influxdb1_has_no_v2_write(influxdb1: InfluxDB1) -> None:
    from tests.support.http_client import http

    status, _ = http("POST", f"{influxdb1.url}/api/v2/write?bucket=sentinelle&org=x", data=b"m v=1")
    assert status == 404


# -- VictoriaMetrics -------------------------------------------------------------------


def test_victoria_metrics_v2_write_and_export(victoria_metrics: VictoriaMetrics) -> None:
    from influxdb_client import InfluxDBClient
    from influxdb_client.client.write_api import SYNCHRONOUS

    now_ns = time.time_ns()
    with InfluxDBClient(url=victoria_metrics.url, token="unused", org="sentinelle") as client:
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket="sentinelle",
            record=[
                f"power,site=mairie device=3.5,energy=7i {now_ns}",
                "power,site=ecole device=1.25 1700000000000000000",
            ],
        )
    series = victoria_metrics.export('{__name__=~"power_.*"}')
    got = {(s["metric"]["__name__"], s["metric"]["site"]): (s["values"], s["timestamps"]) for s in series}
    assert got == {
        ("power_device", "mairie"): ([3.5], [now_ns // 1_000_000]),
        ("power_energy", "mairie"): ([7], [now_ns // 1_000_000]),
        ("power_device", "ecole"): ([1.25], [1700000000000]),
    }
    assert victoria_metrics.count_points() == 3


def test_victoria_metrics_restart_keeps_data(victoria_metrics: VictoriaMetrics) -> None:
    victoria_metrics.write("temp,room=a value=20.5 1700000000000000000")
    victoria_metrics.flush()
    port = victoria_metrics.port
    victoria_metrics.stop()
    victoria_metrics.start()
    assert victoria_metrics.port == port
    assert victoria_metrics.export('{__name__="temp_value"}')[0]["values"] == [20.5]


# -- robustness of the bed itself -------------------------------------------------------


@pytest.mark.parametrize("cls", [SnmpSim, Snmpd, Mosquitto, InfluxDB1, VictoriaMetrics])
def test_first_start_moves_off_a_stolen_port(cls: type, tmp_path: Path) -> None:
    """Someone grabbing our probed port before the server binds it must not fail the run."""
    import socket

    if cls is SnmpSim:
        shutil.copy(SNMP_RECORDINGS / "eaton-93e-ups.snmprec", tmp_path / "ups.snmprec")
        srv = cls(tmp_path, workdir=tmp_path / "run")
    else:
        srv = cls(workdir=tmp_path / "run")
    udp = cls in (SnmpSim, Snmpd)
    thief = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    try:
        thief.bind(("127.0.0.1", srv.port))
        if not udp:
            thief.listen()
        stolen = srv.port
        srv.start()
        assert srv.running and srv.port != stolen
    finally:
        thief.close()
        srv.stop()


async def test_async_restart_keeps_port(victoria_metrics: VictoriaMetrics) -> None:
    port = victoria_metrics.port
    await victoria_metrics.arestart()
    assert victoria_metrics.running and victoria_metrics.port == port
