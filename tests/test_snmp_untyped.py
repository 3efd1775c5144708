"""Untyped integers (the gufo-snmp backend): counter width comes from the profile's `bits:` /
`fallback_bits:`, and an undeclared counter never wraps (a drop gives no delta, never an
invented one). Decoded with the shipped IF-MIB profile, the answers built as gufo returns them."""

from __future__ import annotations

from sentinelle.collectors.snmp.client import UNTYPED_INT, Varbind
from sentinelle.collectors.snmp.counters import CounterState, counter_step
from sentinelle.collectors.snmp.decode import SYS_UPTIME, CounterSample, decode
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


def test_untyped_counter32_wraps_and_undeclared_does_not() -> None:
    declared = FieldSpec(name="in_errors", oid=f"{IF}.14", type="counter", bits=32)
    undeclared = FieldSpec(name="in_errors", oid=f"{IF}.14", type="counter")
    prev = CounterState(2**32 - 100, None, 0.0)
    syntax = declared.counter_syntax(f"{IF}.14.3")
    assert syntax == "Counter32"
    step = counter_step(prev, CounterSample(declared, 50, syntax), 60.0, rebooted=False)
    assert (step.delta, step.reason) == (150, "wrap")
    assert undeclared.counter_syntax(f"{IF}.14.3") is None
    step = counter_step(prev, CounterSample(undeclared, 50, UNTYPED_INT), 60.0, rebooted=False)
    assert step.delta is None and step.reason == "decrease"
