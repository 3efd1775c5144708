"""Counter maths (collectors/snmp/counters.py): wraps, reboots, meter resets, sentinels.

Crafted sequences, no server: these are the cases a real device shows once a year.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sentinelle.collectors.snmp.client import Varbind
from sentinelle.collectors.snmp.counters import CounterBook, CounterState, counter_step, uptime_went_back
from sentinelle.collectors.snmp.decode import CounterSample, Reading, convert
from sentinelle.collectors.snmp.events import EventBook
from sentinelle.collectors.snmp.profiles import FieldSpec

OCTETS = FieldSpec(name="in_octets", oid="1.3.6.1.2.1.2.2.1.10", type="counter")
ENERGY = FieldSpec(name="energy_kwh_total", oid="1.3.6.1.4.1.318.1.1.26.4.3.1.9", type="counter", scale=0.1,
                   invalid=[-1], persistent=True, max_rate=0.1, reset_marker="1.3.6.1.4.1.318.1.1.26.4.3.1.10")


def sample(spec: FieldSpec, raw: int, syntax: str = "Counter32", marker: str | None = None) -> CounterSample:
    return CounterSample(spec, raw, syntax, marker)


def test_counter32_wrap_is_unwrapped() -> None:
    prev = CounterState(2**32 - 100, None, 0.0)
    step = counter_step(prev, sample(OCTETS, 50), 60.0, rebooted=False)
    assert (step.delta, step.reason, step.reset) == (150, "wrap", False)


def test_counter64_drop_is_a_reset_not_a_wrap() -> None:
    step = counter_step(CounterState(10_000, None, 0.0), sample(OCTETS, 5, "Counter64"), 60.0, False)
    assert step.delta is None and step.reason == "decrease" and step.reset


def test_counter32_drop_larger_than_half_range_is_a_reset() -> None:
    step = counter_step(CounterState(3_000_000_000, None, 0.0), sample(OCTETS, 2_900_000_000), 60.0, False)
    assert step.delta is None and step.reset


def test_reboot_discards_volatile_counter_even_if_it_grew() -> None:
    step = counter_step(CounterState(100, None, 0.0), sample(OCTETS, 5_000), 60.0, rebooted=True)
    assert step.delta is None and step.reason == "reboot"


def test_reboot_keeps_persistent_energy_meter() -> None:
    step = counter_step(CounterState(19516, "04/16/2019", 0.0), sample(ENERGY, 19518, "Integer32", "04/16/2019"), 60.0, True)
    assert step.delta == 2 and not step.reset


def test_user_reset_detected_by_start_time_even_without_drop() -> None:
    step = counter_step(CounterState(5, "01/01/2024 00:00:00", 0.0),
                        sample(ENERGY, 9, "Integer32", "06/01/2024 10:00:00"), 60.0, False)
    assert step.reason == "meter_reset" and step.delta is None


def test_energy_drop_without_marker_change_is_a_reset() -> None:
    step = counter_step(CounterState(19516, "x", 0.0), sample(ENERGY, 3, "Integer32", "x"), 60.0, False)
    assert step.reason == "decrease" and step.delta is None


def test_implausible_jump_is_not_a_delta() -> None:
    # 100 kWh in 60 s is 6 MW on a rack PDU.
    step = counter_step(CounterState(0, "x", 0.0), sample(ENERGY, 1000, "Integer32", "x"), 60.0, False)
    assert step.reason == "implausible" and step.delta is None


def test_minus_one_sentinel_is_not_a_reading() -> None:
    assert convert(ENERGY, Varbind("1.3", "Integer32", -1)) is None
    assert convert(ENERGY, Varbind("1.3", "Integer32", 19516)) == 1951.6
    assert convert(ENERGY, Varbind("1.3", "NoSuchInstance", None)) is None


def test_sysuptime_wrap_is_not_a_reboot() -> None:
    assert not uptime_went_back(2**32 - 3000, 0.0, 3000, 60.0)
    assert uptime_went_back(500_000, 0.0, 3000, 60.0)
    assert not uptime_went_back(500_000, 0.0, 506_000, 60.0)


def test_book_emits_delta_and_reset_flag() -> None:
    book = CounterBook()

    def poll(raw: int, t: float, marker: str = "m", rebooted: bool = False) -> dict:
        r = Reading("pdu", {"pdu_module": "1"})
        r.counters["energy_kwh_total"] = sample(ENERGY, raw, "Integer32", marker)
        r.fields["energy_kwh_total"] = raw * 0.1
        book.apply(r, t, rebooted)
        return r.fields

    first = poll(19516, 0)
    assert "energy_kwh_total_delta" not in first and "counter_reset" not in first
    assert poll(19518, 60)["energy_kwh_total_delta"] == 0.2
    reset = poll(2, 120, marker="new")
    assert reset.get("counter_reset") is True and "energy_kwh_total_delta" not in reset
    after = poll(3, 180, marker="new")
    assert after["energy_kwh_total_delta"] == 0.1 and "counter_reset" not in after


def test_book_state_survives_serialisation() -> None:
    book = CounterBook()
    r = Reading("interface", {"ifindex": "1"}, counters={"in_octets": sample(OCTETS, 100)})
    book.apply(r, 0.0, False)
    again = CounterBook.from_json(book.to_json())
    r2 = Reading("interface", {"ifindex": "1"}, counters={"in_octets": sample(OCTETS, 400)})
    again.apply(r2, 60.0, False)
    assert r2.fields["in_octets_delta"] == 300.0
    assert CounterBook.from_json({"bad": {"raw": "x"}, "junk": 3}).to_json() == {}


@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.booleans()), min_size=2, max_size=30),
       st.sampled_from(["Counter32", "Counter64", "Integer32"]))
def test_no_negative_delta_ever(seq: list[tuple[int, bool]], syntax: str) -> None:
    book = CounterBook()
    for i, (raw, rebooted) in enumerate(seq):
        r = Reading("x", {}, counters={"in_octets": sample(OCTETS, raw, syntax)})
        book.apply(r, i * 60.0, rebooted)
        delta = r.fields.get("in_octets_delta")
        assert delta is None or 0 <= delta < 2**32


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
