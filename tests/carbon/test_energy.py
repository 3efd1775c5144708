"""Energy maths on crafted series, against values computed by hand in each test."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from sentinelle.carbon.energy import (
    NS,
    CounterReading,
    EnergyInputError,
    GapPolicy,
    PowerSample,
    counter_intervals,
    coverage,
    power_intervals,
)

T0 = 1_700_000_000 * NS
MIN = 60 * NS
PARIS = ZoneInfo("Europe/Paris")


def C(minutes: float, kwh: float, **kw) -> CounterReading:
    return CounterReading(T0 + int(minutes * MIN), kwh, **kw)


def test_counter_deltas_are_measured():
    ivs = counter_intervals([C(0, 100.0), C(1, 100.5), C(2, 101.25)])
    assert [(iv.kwh, iv.method) for iv in ivs] == [(0.5, "measured"), (0.75, "measured")]
    assert ivs[0].duration_s == 60


def test_counter_wrap_uses_modulus():
    # Counter32 in 0.1 kWh scaled to kWh: modulus 429496729.6 kWh; 0.3 kWh before the top, 0.2 after.
    wrap = 429496729.6
    ivs = counter_intervals([C(0, wrap - 0.3, wrap_kwh=wrap), C(1, 0.2, wrap_kwh=wrap)])
    assert ivs[0].method == "measured"
    assert ivs[0].kwh == pytest.approx(0.5)


def test_flagged_reset_counts_energy_since_restart():
    # 100 -> 101 (1 kWh), reboot: counter restarts, reads 0.2 -> the interval is 0.2 kWh, then +0.3.
    ivs = counter_intervals([C(0, 100), C(1, 101), C(2, 0.2, reset=True), C(3, 0.5)])
    assert [round(iv.kwh, 9) for iv in ivs] == [1.0, 0.2, 0.3]
    assert all(iv.method == "measured" for iv in ivs)


def test_unflagged_drop_without_modulus_is_a_reset_never_negative():
    ivs = counter_intervals([C(0, 5000), C(1, 3), C(2, 4)])
    assert [iv.kwh for iv in ivs] == [3, 1]
    assert min(iv.kwh for iv in ivs) >= 0


def test_implausible_wrap_is_a_reset():
    # 1234 -> 2 with modulus 5000 would be a 3768 kWh "wrap" in a minute: treated as a user reset.
    ivs = counter_intervals([C(0, 1234, wrap_kwh=5000), C(1, 2, wrap_kwh=5000)])
    assert ivs[0].kwh == 2


def test_week_long_outage_with_counter_still_counting_is_measured():
    week = 7 * 24 * 60
    ivs = counter_intervals([C(0, 100), C(week, 436)], GapPolicy(max_gap_s=900))
    assert ivs[0].method == "measured"
    assert ivs[0].kwh == 336  # 2 kW for 168 h
    cov = coverage(ivs, ivs[0].start_ns, ivs[0].end_ns, max_gap_s=900)
    assert cov.total_kwh == 336
    assert cov.completeness == 0.0  # exact energy, but a week without data


def test_reset_across_a_long_gap_is_estimated_from_neighbours():
    # 1 kWh per 15 min (4 kW) before and after; a reboot during a 10 h outage; counter reads 3 after.
    rs = [C(0, 0), C(15, 1), C(30, 2), C(630, 3, reset=True), C(645, 4), C(660, 5)]
    ivs = counter_intervals(rs, GapPolicy(max_gap_s=900, fill="estimate"))
    gap = ivs[2]
    assert gap.method == "estimated"
    assert gap.kwh == pytest.approx(40.0)  # 4 kW * 10 h
    missing = counter_intervals(rs, GapPolicy(max_gap_s=900, fill="missing"))[2]
    assert missing.method == "missing"
    assert missing.kwh == 3  # only what the counter proved


def test_power_trapezoid():
    ivs = power_intervals([PowerSample(T0, 1000), PowerSample(T0 + MIN, 2000), PowerSample(T0 + 2 * MIN, 2000)])
    assert [iv.method for iv in ivs] == ["integrated", "integrated"]
    assert ivs[0].kwh == pytest.approx(1500 * 60 / 3.6e6)
    assert ivs[1].kwh == pytest.approx(2000 * 60 / 3.6e6)


def test_power_gap_estimated_or_missing_by_policy():
    samples = [PowerSample(T0 + i * MIN, 600.0) for i in range(3)] + [PowerSample(T0 + 62 * MIN + i * MIN, 600.0) for i in range(3)]
    est = power_intervals(samples, GapPolicy(max_gap_s=300, fill="estimate"))
    gap = [iv for iv in est if iv.duration_s > 300]
    assert len(gap) == 1 and gap[0].method == "estimated"
    assert gap[0].kwh == pytest.approx(600 * 3600 / 3.6e6)  # 60 min at 600 W = 0.6 kWh
    miss = power_intervals(samples, GapPolicy(max_gap_s=300, fill="missing"))
    gap = [iv for iv in miss if iv.duration_s > 300]
    assert gap[0].method == "missing" and gap[0].kwh == 0.0
    total = sum(iv.kwh for iv in est)
    assert total == pytest.approx(600 * 64 * 60 / 3.6e6)


@pytest.mark.parametrize(("day", "hours"), [("2026-03-29", 23), ("2026-10-25", 25), ("2026-06-01", 24)])
def test_dst_days_have_23_or_25_hours_of_energy(day: str, hours: int):
    start = datetime.fromisoformat(day).replace(tzinfo=PARIS)
    end = datetime.fromisoformat(day).replace(tzinfo=PARIS).replace(day=start.day + 1)
    s_ns, e_ns = int(start.timestamp()) * NS, int(end.timestamp()) * NS
    # 1 kW sampled every 15 min in UTC from 2 h before to 2 h after the local day
    samples = [PowerSample(t, 1000.0) for t in range(s_ns - 2 * 3600 * NS, e_ns + 2 * 3600 * NS + 1, 900 * NS)]
    cov = coverage(power_intervals(samples), s_ns, e_ns)
    assert cov.total_kwh == pytest.approx(hours)
    assert cov.completeness == pytest.approx(1.0)


def test_coverage_prorates_intervals_crossing_the_edges():
    ivs = counter_intervals([C(0, 0), C(60, 10)])  # 10 kWh over one hour
    cov = coverage(ivs, T0 + 30 * MIN, T0 + 120 * MIN)
    assert cov.total_kwh == pytest.approx(5.0)
    assert cov.completeness == pytest.approx(30 / 90)


def test_duplicates_and_disorder_are_tolerated():
    ivs = counter_intervals([C(2, 3), C(0, 1), C(1, 2), C(1, 2)])
    assert [iv.kwh for iv in ivs] == [1, 1]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0])
def test_bad_readings_raise_a_clear_error(bad: float):
    with pytest.raises(EnergyInputError, match="counter reading"):
        counter_intervals([C(0, 1), C(1, bad)])
    with pytest.raises(EnergyInputError, match="power sample"):
        power_intervals([PowerSample(T0, 1), PowerSample(T0 + MIN, bad)])


def test_gap_policy_validates():
    with pytest.raises(ValueError):
        GapPolicy(max_gap_s=0)
    with pytest.raises(ValueError):
        GapPolicy(fill="guess")  # type: ignore[arg-type]
