"""Untyped integers (the gufo-snmp backend): counter width comes from the profile's `bits:` /
`fallback_bits:`, and an undeclared counter never wraps (a drop is a restart for carbon, never
an invented wrap). Decoded with the shipped IF-MIB profile, the answers built as gufo returns them."""

from __future__ import annotations

from sentinelle.carbon.energy import NS, CounterReading, counter_increment
from sentinelle.collectors.snmp.client import UNTYPED_INT, Varbind
from sentinelle.collectors.snmp.counters import ResetMarkers
from sentinelle.collectors.snmp.decode import SYS_UPTIME, CounterSample, Reading, decode
from sentinelle.collectors.snmp.profiles import FieldSpec, ProfileCatalog

IF = "1.3.6.1.2.1.2.2.1"
IFX = "1.3.6.1.2.1.31.1.1.1"


def column(oid: str, rows: dict[str, int]) -> dict[str, Varbind]:
    return {i: Varbind(f"{oid}.{i}", UNTYPED_INT, v) for i, v in rows.items()}


def test_declared_widths_reach_the_counter_samples() -> None:
    catalog = ProfileCatalog.load()
    profile = catalog.get("if-mib")
    tables = {
        f"{IF}.14": column(f"{IF}.14", {"1": 7, "2": 8}),  # ifInErrors: Counter32
        f"{IFX}.6": column(f"{IFX}.6", {"1": 2**40}),  # ifHCInOctets: Counter64, row 1 only
        f"{IF}.10": column(f"{IF}.10", {"1": 5, "2": 6}),  # ifInOctets: the fallback, Counter32
        f"{IF}.8": column(f"{IF}.8", {"1": 1, "2": 1}),
    }
    scalars = {SYS_UPTIME: Varbind(SYS_UPTIME, UNTYPED_INT, 100)}
    readings = {r.tags.get("ifindex"): r for r in decode([profile], scalars, tables) if r.measurement == "interface"}
    assert readings["1"].counters["in_errors"].syntax == "Counter32"
    assert readings["1"].counters["in_octets"].syntax == "Counter64"  # the HC column answered
    assert readings["2"].counters["in_octets"].syntax == "Counter32"  # the fallback answered
    assert readings["2"].counters["in_octets"].raw == 6


def _increment(spec: FieldSpec, syntax: str, prev_raw: int, raw: int) -> tuple[float, str]:
    """Two samples of a meter counter through the collector's markers and carbon's maths."""
    markers, out = ResetMarkers(), []
    for i, value in enumerate((prev_raw, raw)):
        r = Reading("pdu", {}, {spec.name: float(value)}, counters={spec.name: CounterSample(spec, value, syntax)})
        markers.apply(r, False)
        out.append(CounterReading(i * 60 * NS, r.fields[spec.name], bool(r.fields.get("counter_reset", False)),
                                  r.fields.get(f"{spec.name}_wrap")))
    return counter_increment(out[0], out[1])


def test_untyped_counter32_wraps_and_undeclared_does_not() -> None:
    declared = FieldSpec(name="energy_kwh_total", oid=f"{IF}.14", type="counter", bits=32)
    undeclared = FieldSpec(name="energy_kwh_total", oid=f"{IF}.14", type="counter")
    syntax = declared.counter_syntax(f"{IF}.14.3")
    assert syntax == "Counter32"
    assert _increment(declared, syntax, 2**32 - 100, 50) == (150.0, "wrapped")
    assert undeclared.counter_syntax(f"{IF}.14.3") is None
    assert _increment(undeclared, UNTYPED_INT, 2**32 - 100, 50) == (50.0, "restarted")  # never an invented wrap
