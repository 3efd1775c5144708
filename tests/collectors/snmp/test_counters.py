"""Counters from the device to carbon (collectors/snmp/counters.py, then carbon/energy.py):
wraps, reboots, meter resets, sentinels, implausible jumps.

The collector writes the raw value and what the device knows (`counter_reset`, `<x>_wrap`,
`<x>_max_rate`); carbon differences it (docs/meter-readings.md). Each case goes through both,
as the live pipeline does. Crafted sequences, no server: these are the cases a real device shows
once a year.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinelle.carbon.energy import NS, CounterReading, counter_increment, counter_intervals
from sentinelle.collectors.snmp.client import Varbind
from sentinelle.collectors.snmp.counters import ResetMarkers, uptime_went_back
from sentinelle.collectors.snmp.decode import CounterSample, Reading, convert, scaled
from sentinelle.collectors.snmp.events import EventBook
from sentinelle.collectors.snmp.profiles import FieldSpec, ProfileCatalog

OCTETS = FieldSpec(name="in_octets", oid="1.3.6.1.2.1.2.2.1.10", type="counter")
METER32 = FieldSpec(name="energy_kwh_total", oid="1.3.6.1.4.1.9.9.1", type="counter", bits=32)  # volatile
ENERGY = FieldSpec(name="energy_kwh_total", oid="1.3.6.1.4.1.318.1.1.26.4.3.1.9", type="counter", scale=0.1,
                   invalid=[-1], persistent=True, max_rate=0.1, reset_marker="1.3.6.1.4.1.318.1.1.26.4.3.1.10")


def sample(spec: FieldSpec, raw: int, syntax: str = "Counter32", marker: str | None = None) -> CounterSample:
    return CounterSample(spec, raw, syntax, marker)


def emitted(markers: ResetMarkers, spec: FieldSpec, raw: int, syntax: str = "Counter32", marker: str | None = None,
            rebooted: bool = False) -> dict:
    """The fields the collector writes for one sample of a `pdu` counter."""
    r = Reading("pdu", {"pdu_module": "1"})
    r.counters[spec.name] = sample(spec, raw, syntax, marker)
    r.fields[spec.name] = scaled(raw, spec.scale)
    markers.apply(r, rebooted)
    return r.fields


def as_reading(fields: dict, time_s: float) -> CounterReading:
    """What carbon/processor.py makes of those fields."""
    return CounterReading(int(time_s * NS), fields["energy_kwh_total"], bool(fields.get("counter_reset", False)),
                          fields.get("energy_kwh_total_wrap"), fields.get("energy_kwh_total_max_rate"))


def step(spec: FieldSpec, prev_raw: int, raw: int, syntax: str = "Counter32", *, prev_marker: str | None = None,
         marker: str | None = None, rebooted: bool = False, elapsed_s: float = 60.0) -> tuple[float, str]:
    markers = ResetMarkers()
    before = emitted(markers, spec, prev_raw, syntax, prev_marker)
    after = emitted(markers, spec, raw, syntax, marker, rebooted)
    return counter_increment(as_reading(before, 0.0), as_reading(after, elapsed_s))


def test_counter32_wrap_is_unwrapped() -> None:
    assert step(METER32, 2**32 - 100, 50) == (150.0, "wrapped")


def test_counter64_drop_is_a_reset_not_a_wrap() -> None:
    assert step(METER32, 10_000, 5, "Counter64") == (5.0, "restarted")


def test_counter32_drop_larger_than_half_range_is_a_reset() -> None:
    assert step(METER32, 3_000_000_000, 2_900_000_000)[1] == "restarted"


def test_reboot_discards_volatile_counter_even_if_it_grew() -> None:
    assert step(METER32, 100, 5_000, rebooted=True) == (5000.0, "restarted")


def test_reboot_keeps_persistent_energy_meter() -> None:
    kwh, outcome = step(ENERGY, 19516, 19518, "Integer32", prev_marker="04/16/2019", marker="04/16/2019", rebooted=True)
    assert kwh == pytest.approx(0.2) and outcome == "counted"


def test_user_reset_detected_by_start_time_even_without_drop() -> None:
    kwh, outcome = step(ENERGY, 5, 9, "Integer32", prev_marker="01/01/2024 00:00:00", marker="06/01/2024 10:00:00")
    assert outcome == "restarted" and kwh == pytest.approx(0.9)  # the energy since the reset


def test_energy_drop_without_marker_change_is_a_reset() -> None:
    assert step(ENERGY, 19516, 3, "Integer32", prev_marker="x", marker="x")[1] == "restarted"


def test_implausible_jump_is_not_energy() -> None:
    # 100 kWh in 60 s is 6 MW on a rack PDU: the profile's max_rate reaches carbon.
    assert step(ENERGY, 0, 1000, "Integer32", prev_marker="x", marker="x") == (0.0, "implausible")


def test_a_meter_counter_describes_itself_and_other_counters_do_not() -> None:
    fields = emitted(ResetMarkers(), METER32, 7)
    assert fields == {"energy_kwh_total": 7.0, "energy_kwh_total_wrap": float(2**32)}
    fields = emitted(ResetMarkers(), ENERGY, 7, "Integer32", "m")
    assert fields == {"energy_kwh_total": 0.7, "energy_kwh_total_max_rate": 0.1}
    r = Reading("interface", {"ifindex": "1"}, {"in_octets": 100.0}, counters={"in_octets": sample(OCTETS, 100)})
    ResetMarkers().apply(r, False)
    assert r.fields == {"in_octets": 100.0}  # no _delta, no description


def test_minus_one_sentinel_is_not_a_reading() -> None:
    assert convert(ENERGY, Varbind("1.3", "Integer32", -1)) is None
    assert convert(ENERGY, Varbind("1.3", "Integer32", 19516)) == 1951.6
    assert convert(ENERGY, Varbind("1.3", "NoSuchInstance", None)) is None


def test_sysuptime_wrap_is_not_a_reboot() -> None:
    assert not uptime_went_back(2**32 - 3000, 0.0, 3000, 60.0)
    assert uptime_went_back(500_000, 0.0, 3000, 60.0)
    assert not uptime_went_back(500_000, 0.0, 506_000, 60.0)


def test_reset_flag_and_the_same_kwh_as_the_deltas_gave() -> None:
    markers = ResetMarkers()
    seq = [(19516, "m"), (19518, "m"), (2, "new"), (3, "new")]
    fields = [emitted(markers, ENERGY, raw, "Integer32", marker) for raw, marker in seq]
    assert [f.get("counter_reset", False) for f in fields] == [False, False, True, False]
    ivs = counter_intervals([as_reading(f, 60.0 * i) for i, f in enumerate(fields)])
    assert [iv.kwh for iv in ivs] == pytest.approx([0.2, 0.2, 0.1])  # 0.2 since the reset, a lower bound
    assert [iv.method for iv in ivs] == ["measured"] * 3
    assert all("_delta" not in k for f in fields for k in f)


def test_markers_survive_serialisation() -> None:
    markers = ResetMarkers()
    emitted(markers, ENERGY, 100, "Integer32", "a")
    again = ResetMarkers.from_json(markers.to_json())
    assert emitted(again, ENERGY, 101, "Integer32", "b").get("counter_reset") is True
    assert ResetMarkers.from_json({"bad": {"raw": "x"}, "junk": 3}).to_json() == {}


def test_the_counters_state_of_earlier_releases_still_loads() -> None:
    old = {"pdu|pdu_module=1|energy_kwh_total": {"raw": 19516, "marker": "m", "time_s": 0.0},
           "interface|ifindex=1|in_octets": {"raw": 100, "marker": None, "time_s": 0.0}, "junk": 3}
    markers = ResetMarkers.from_counters_state(old)
    assert markers.to_json() == {"pdu|pdu_module=1|energy_kwh_total": "m", "interface|ifindex=1|in_octets": None}
    assert "counter_reset" not in emitted(markers, ENERGY, 19517, "Integer32", "m")
    assert emitted(markers, ENERGY, 1, "Integer32", "reset-by-a-user").get("counter_reset") is True


def test_a_profile_with_delta_loads_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "old-pdu.yaml").write_text(
        "name: old-pdu\n"
        "groups:\n"
        "  - measurement: pdu\n"
        "    fields:\n"
        "      - {name: energy_kwh_total, oid: 1.3.6.1.4.1.9.1.0, type: counter}\n"
        "      - name: other_kwh_total\n"
        "        oid: 1.3.6.1.4.1.9.2.0\n"
        "        type: counter\n"
        "        delta: false\n"
        "      - {name: third_kwh_total, oid: 1.3.6.1.4.1.9.3.0, type: counter, delta: true}\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="sentinelle.collectors.snmp"):
        catalog = ProfileCatalog.load([tmp_path])
    warnings = [r.getMessage() for r in caplog.records if "delta" in r.getMessage()]
    assert len(warnings) == 1
    assert f"{tmp_path / 'old-pdu.yaml'}:9:" in warnings[0] and "pdu.other_kwh_total, pdu.third_kwh_total" in warnings[0]
    assert "old-pdu" in catalog.profiles
    caplog.clear()
    ProfileCatalog.load([tmp_path])  # `check` then `run` in one process: not a second time
    ProfileCatalog.load()
    assert not [r for r in caplog.records if "delta" in r.getMessage()]  # shipped profiles: none


@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.booleans()), min_size=2, max_size=30),
       st.sampled_from(["Counter32", "Counter64", "Integer32"]))
def test_no_negative_energy_ever(seq: list[tuple[int, bool]], syntax: str) -> None:
    markers = ResetMarkers()
    fields = [emitted(markers, METER32, raw, syntax, rebooted=rebooted) for raw, rebooted in seq]
    for iv in counter_intervals([as_reading(f, 60.0 * i) for i, f in enumerate(fields)]):
        assert 0 <= iv.kwh < 2**32


def test_events_start_end_with_duration() -> None:
    book = EventBook("ups-1")
    assert book.observe("on_battery", False, 0) is None
    start = book.observe("on_battery", True, 60_000_000_000)
    assert start is not None and start.fields["state"] == "start" and start.tags == {"device": "ups-1", "event": "on_battery"}
    assert book.observe("on_battery", True, 120_000_000_000) is None
    end = book.observe("on_battery", False, 180_000_000_000)
    assert end is not None and end.fields["state"] == "end" and end.fields["duration_s"] == 120.0
    # An episode already active at the first observation is announced unless told otherwise.
    assert book.observe("unreachable", True, 0) is not None
    assert book.observe("link_down", True, 0, {"ifindex": "3"}, announce_initial=False) is None
    restored = EventBook.from_json("ups-1", book.to_json())
    assert restored.observe("unreachable", False, 30_000_000_000).fields["duration_s"] == 30.0
