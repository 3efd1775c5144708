"""Differential test (issue 14): gufo-snmp and pysnmp 7, polling the same real responders
(snmpsim with every recording of collectors/snmp/testdata, net-snmp snmpd over v1, v2c and v3
authPriv SHA-512 + AES-256, with and without the sparse view), give identical points."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from sentinelle.agent.config import DeviceSettings
from sentinelle.agent.core import Point
from sentinelle.collectors.snmp.cli import probe
from sentinelle.collectors.snmp.client import SnmpClient
from sentinelle.collectors.snmp.device import SnmpDevice
from sentinelle.collectors.snmp.profiles import ProfileCatalog
from sentinelle.collectors.snmp.settings import SnmpTargetSettings
from tests.collectors.snmp.test_walk import sparse_snmpd, v3_target  # noqa: F401 - sparse_snmpd is a fixture

TESTDATA = Path(__file__).resolve().parents[3] / "collectors" / "snmp" / "testdata"
RECORDINGS = sorted(str(p.relative_to(TESTDATA))[: -len(".snmprec")] for p in TESTDATA.rglob("*.snmprec"))


def moving(community: str) -> bool:
    """Recordings with snmpsim variation modules (`67:numeric|...`) change between requests."""
    text = (TESTDATA / f"{community}.snmprec").read_text()
    return any(":" in line.split("|")[1] for line in text.splitlines() if line.count("|") >= 2)
T0 = 1_700_000_000_000_000_000


@pytest.fixture(scope="module")
def catalog() -> ProfileCatalog:
    return ProfileCatalog.load()


def comparable(points: list[Point]) -> list[tuple]:
    """Points without what legitimately differs between two polls (the poll's own duration;
    counters and uptime that move on a live agent are compared on snmpsim only)."""
    out = []
    for p in points:
        fields = {k: v for k, v in p.fields.items() if k != "poll_duration_s"}
        out.append((p.measurement, tuple(sorted(p.tags.items())), tuple(sorted(fields.items())), p.time_ns))
    return sorted(out, key=repr)


async def poll_both(target: SnmpTargetSettings, catalog: ProfileCatalog, device_id: str) -> dict[str, list[list[Point]]]:
    """Two cycles per backend (the second has counter deltas). Both backends must also make
    the same identification: discovered table roots (GETNEXT), chosen profiles, quirks."""
    result: dict[str, list[list[Point]]] = {}
    chosen: dict[str, tuple] = {}
    for backend in ("gufo", "pysnmp"):
        t = target.model_copy(update={"backend": backend})
        async with SnmpClient() as client:
            session = client.session(t)
            assert session.backend_name == backend
            dev = SnmpDevice(DeviceSettings(id=device_id, snmp=t), session, catalog, 60.0)
            result[backend] = [await dev.poll(T0), await dev.poll(T0 + 60_000_000_000)]
            assert dev.discovery is not None
            chosen[backend] = (dev.discovery.roots, [p.name for p in dev.profiles or []], dev.quirks)
    assert chosen["gufo"] == chosen["pysnmp"], device_id
    return result


def probed(result: dict) -> dict:
    """A probe's JSON without what moves between two reads of a live or varying agent
    (the values themselves; their fields, statuses and discards stay)."""
    return {**result, "values": sorted((v["measurement"], repr(sorted(v["tags"].items())), v["field"])
                                       for v in result["values"]),
            "discarded": sorted(repr({k: v for k, v in d.items() if k not in ("raw", "text")})
                                for d in result["discarded"])}


@pytest.mark.parametrize("community", RECORDINGS)
async def test_probe_says_the_same_on_both_backends(snmpsim, catalog, community) -> None:
    """Per-field statuses (noSuchObject vs noSuchInstance included), discovery, quirks, values
    discarded as sentinels or implausible: `probe` reports the same through either backend."""
    target = SnmpTargetSettings(host=snmpsim.host, port=snmpsim.port, community=SecretStr(community))
    got = {b: await probe(target.model_copy(update={"backend": b}), catalog, []) for b in ("gufo", "pysnmp")}
    assert got["pysnmp"]["fields"], community
    if moving(community):
        assert probed(got["gufo"]) == probed(got["pysnmp"]), community
    else:
        assert got["gufo"] == got["pysnmp"], community


@pytest.mark.parametrize("community", RECORDINGS)
async def test_recordings_give_identical_points(snmpsim, catalog, community) -> None:
    target = SnmpTargetSettings(host=snmpsim.host, port=snmpsim.port, community=SecretStr(community))
    got = await poll_both(target, catalog, community.replace("/", "-"))
    for cycle in (0, 1):
        gufo, reference = got["gufo"][cycle], got["pysnmp"][cycle]
        assert any(p.measurement != "device_status" for p in reference), community
        assert next(p for p in reference if p.measurement == "device_status").fields["reachable"] is True
        same = stable if moving(community) else comparable
        assert same(gufo) == same(reference), (community, cycle)


def stable(points: list[Point]) -> list[tuple]:
    """snmpd is a live agent: drop the fields that move between two polls (counters, uptime,
    loads, storage used), keep identity, tags, strings, states and which fields exist."""
    out = []
    for measurement, tags, fields, time_ns in comparable(points):
        kept = tuple((k, v if isinstance(v, (str, bool)) else type(v).__name__) for k, v in fields)
        out.append((measurement, tags, kept, time_ns))
    return out


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize("sparse", [False, True], ids=["full-view", "sparse-view"])
async def test_snmpd_gives_identical_points(snmpd, sparse_snmpd,  # noqa: F811
                                           catalog, version, sparse) -> None:
    srv = sparse_snmpd if sparse else snmpd
    if version == 3:
        target = v3_target(srv)
    else:
        target = SnmpTargetSettings(host=srv.host, port=srv.port, version=version, community=SecretStr("public"))
    got = await poll_both(target, catalog, "srv")
    for cycle in (0, 1):
        gufo, reference = got["gufo"][cycle], got["pysnmp"][cycle]
        interfaces = [p for p in reference if p.measurement == "interface"]
        assert interfaces and next(p for p in reference if p.measurement == "device_status").fields["reachable"]
        if sparse:
            assert "2" not in {p.tags["ifindex"] for p in interfaces}
        assert stable(gufo) == stable(reference), (version, sparse, cycle)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("backend", ["gufo", "pysnmp"])
async def test_getnext_past_the_end_of_the_mib(snmpd, version, backend) -> None:
    """Discovery's GETNEXT on a root after everything the agent has: no error, nothing under
    it (v1 noSuchName and v2c endOfMibView alike), and a present root still found."""
    target = SnmpTargetSettings(host=snmpd.host, port=snmpd.port, version=version, community=SecretStr("public"),
                        backend=backend)
    async with SnmpClient() as client:
        session = client.session(target)
        got = await session.get_next(["1.3.6.1.2.1.1", "1.3.9.9.9"])
        await session.close()
    assert got["1.3.6.1.2.1.1"].oid.startswith("1.3.6.1.2.1.1.") and not got["1.3.6.1.2.1.1"].absent
    end = got["1.3.9.9.9"]
    assert end.absent or not end.oid.startswith("1.3.9.9.9.")
