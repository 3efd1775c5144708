"""Site meter hierarchy, PUE, allocation shares, and the demo summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinelle.agent.config import ConfigError, parse_config
from sentinelle.agent.core import Point
from sentinelle.agent.sinks.local import LocalStore
from sentinelle.carbon.commands.demo_summary import summarise
from sentinelle.carbon.energy import NS
from sentinelle.carbon.meters import (
    MeterHierarchyError,
    MeterSpec,
    allocate,
    check_hierarchy,
    hierarchy_inconsistencies,
    meters_from_inventory,
    power_readings,
    pue,
    site_total,
)


def test_sub_meters_are_never_added_and_pue():
    roles = {"ups": "primary", "pdu": "sub"}
    assert site_total({"ups": 30.0, "pdu": 20.0}, roles) == 30.0
    assert pue(30.0, 20.0) == 1.5
    assert pue(30.0, 0.0) is None


@pytest.mark.parametrize(
    ("specs", "reason"),
    [
        ({"a": MeterSpec("a", "s", "sub")}, "names no parent"),
        ({"a": MeterSpec("a", "s", "sub", parent="zz")}, "not a meter"),
        ({"a": MeterSpec("a", "s"), "b": MeterSpec("b", "t", "sub", parent="a")}, "different sites"),
        ({"a": MeterSpec("a", "s", parent="b"), "b": MeterSpec("b", "s", parent="a")}, "cycle"),
    ],
)
def test_bad_hierarchies_are_refused(specs, reason):
    with pytest.raises(MeterHierarchyError, match=reason):
        check_hierarchy(specs)


def test_allocation_parts_add_up_exactly():
    parts = allocate(100.0, {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    assert sum(parts.values()) == 100.0
    assert parts["a"] == pytest.approx(33.333333333)


def test_config_allocation_and_meters():
    cfg = parse_config(
        "inventory:\n  sites:\n    - id: s\n      allocation: {member: {a: 0.5, b: 0.5}}\n"
        "      devices: [{id: d, meter: it}]\n"
    )
    assert meters_from_inventory(cfg.inventory)["d"].load == "it"
    with pytest.raises(ConfigError, match="add up to 0.9"):
        parse_config("inventory:\n  sites:\n    - id: s\n      allocation: {member: {a: 0.5, b: 0.4}}\n")


def test_summarise_for_the_demo(tmp_path: Path):
    store = LocalStore(tmp_path / "local.db")
    t0 = 1_717_200_000 * NS
    pts = []
    for i in range(1, 5):
        tags = {"site": "s", "meter": "m", "method": "measured", "meter_role": "primary"}
        pts.append(Point("energy", tags, {"kwh": 0.5, "duration_s": 900.0}, t0 + i * 900 * NS))
        pts.append(Point("carbon", {**tags, "track": "grid", "factor_source": "static:config", "factor_version": "static"},
                         {"gco2e": 20.0, "kwh": 0.5, "factor_gco2e_per_kwh": 40.0}, t0 + i * 900 * NS))
    store.write_points(pts)
    store.close()
    s = summarise(tmp_path / "local.db", tmp_path / "out", t0, t0 + 3600 * NS)
    assert s.kwh == pytest.approx(2.0)
    assert s.grid_tco2e == pytest.approx(80e-6)
    assert s.beges_tco2e == pytest.approx(2.0 * 0.0519 / 1000)
    assert s.completeness_pct == pytest.approx(100.0)
    # French number format, unit by magnitude (was "103.800 gCO2e")
    assert s.html.exists() and "CO2e BEGES (ADEME) : 104\u00a0g CO2e ± 10,2\u00a0%" in "\n".join(s.lines())
    assert "Energy: 2,00" not in "\n".join(s.lines("en")) and "Energy: 2.00\u00a0kWh" in "\n".join(s.lines("en"))


def test_the_demo_summary_warns_of_an_it_load_above_its_facility_meter(tmp_path: Path):
    """The demo's data centre once showed a PUE of 0.061 as if it were a figure."""
    store = LocalStore(tmp_path / "local.db")
    t0 = 1_717_200_000 * NS
    pts = []
    for i in range(1, 5):
        for meter, load, role, kwh in (("ups-dc", "facility", "primary", 0.03), ("pdu-dc", "it", "sub", 0.5)):
            tags = {"site": "dc", "meter": meter, "method": "measured", "meter_role": role, "meter_load": load}
            pts.append(Point("energy", tags, {"kwh": kwh, "duration_s": 900.0}, t0 + i * 900 * NS))
    store.write_points(pts)
    store.close()
    s = summarise(tmp_path / "local.db", tmp_path / "out", t0, t0 + 3600 * NS)
    text = "\n".join(s.lines())
    assert "ATTENTION : site dc : la charge IT (pdu-dc" in text and "PUE 0,06 < 1" in text
    assert "hiérarchie de compteurs incohérente" in s.html.read_text(encoding="utf-8")


# --- readings the declared hierarchy makes impossible -------------------------------------------

DC = {
    "ups": MeterSpec("ups", "dc", "primary", "facility"),
    "pdu-it": MeterSpec("pdu-it", "dc", "sub", "it", "ups"),
    "pdu-clim": MeterSpec("pdu-clim", "dc", "sub", "other", "ups"),
}


def test_an_it_load_above_its_facility_meter_is_one_inconsistency_pue_below_1():
    (inc,) = hierarchy_inconsistencies({"ups": 10.0, "pdu-it": 164.0}, DC)
    assert inc.kind == "it-above-facility" and inc.site == "dc"
    assert inc.upper_meters == ("ups",) and inc.lower_meters == ("pdu-it",)
    assert inc.ratio == pytest.approx(10 / 164)
    assert "PUE 0,06 < 1" in inc.message("fr") and "pdu-it" in inc.message("fr")
    assert "PUE 0.06 < 1" in inc.message("en")


def test_sub_meters_together_above_their_parent():
    (inc,) = hierarchy_inconsistencies({"ups": 10.0, "pdu-it": 6.0, "pdu-clim": 5.0}, DC)
    assert inc.kind == "sub-above-parent" and inc.lower == 11.0 and inc.lower_meters == ("pdu-clim", "pdu-it")
    assert "dépassent leur compteur parent" in inc.message()


def test_consistent_readings_tolerance_and_silent_meters():
    assert hierarchy_inconsistencies({"ups": 10.0, "pdu-it": 6.0, "pdu-clim": 3.0}, DC) == []
    # within a 2 % meter accuracy allowance
    assert hierarchy_inconsistencies({"ups": 10.0, "pdu-it": 10.1}, DC, tolerance=0.02) == []
    assert len(hierarchy_inconsistencies({"ups": 10.0, "pdu-it": 10.1}, DC)) == 1
    # a meter without a reading is never compared (nothing inferred from silence)
    assert hierarchy_inconsistencies({"pdu-it": 164.0}, DC) == []
    # works on instantaneous power as well as on energy
    (inc,) = hierarchy_inconsistencies({"ups": 900.0, "pdu-it": 2000.0}, DC)
    assert "2\u202f000 W" in inc.message("fr", unit="W")


def test_power_readings_from_one_poll_feed_the_same_rule():
    """What `check` can do with one poll of the inventory's meters."""
    points = [
        Point("ups", {"device": "ups"}, {"output_power_w": 900.0, "on_battery": False}, 1),
        Point("pdu", {"device": "pdu-it"}, {"power_w": 2000.0}, 1),
        Point("pdu_outlet", {"device": "pdu-it", "outlet": "1"}, {"power_w": 50.0}, 1),
        Point("pdu", {"device": "not-a-meter"}, {"power_w": 7.0}, 1),
    ]
    readings = power_readings(points, DC)
    assert readings == {"ups": 900.0, "pdu-it": 2000.0}
    (inc,) = hierarchy_inconsistencies(readings, DC, tolerance=0.05)
    assert inc.kind == "it-above-facility" and "PUE 0,45" in inc.message(unit="W")
