"""The meter-reading contract (docs/meter-readings.md) as the live carbon processor applies it:
the collector's `<x>_wrap` and `<x>_max_rate`, `counter_reset`, and the SNMP state of earlier
releases."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from sentinelle.agent.config import parse_config
from sentinelle.agent.core import Point
from sentinelle.carbon.energy import NS
from sentinelle.carbon.factors import FactorTable
from sentinelle.carbon.meters import MeterSpec
from sentinelle.carbon.processor import CarbonProcessor
from sentinelle.collectors.snmp.counters import ResetMarkers
from sentinelle.collectors.snmp.device import SnmpDevice
from sentinelle.collectors.snmp.profiles import ProfileCatalog

T0 = 1_735_686_000  # 2025-01-01 00:00 Paris
TAGS = {"device": "pdu-1", "site": "nro-a"}
WRAP = 2**32 * 0.001  # a Counter32 of Wh, in kWh


def _processor(tmp_path: Path) -> CarbonProcessor:
    return CarbonProcessor({"pdu-1": MeterSpec("pdu-1", "nro-a")}, tmp_path, FactorTable.embedded(), None)


def _energy(proc: CarbonProcessor, readings: list[dict]) -> list[Point]:
    out: list[Point] = []
    for i, fields in enumerate(readings):
        p = Point("pdu", TAGS, fields, (T0 + 300 * i) * NS)
        out.extend(q for q in proc.process([p]) if q.measurement == "energy")
    return out


def test_the_wrap_comes_from_the_collectors_wrap_field(tmp_path: Path) -> None:
    readings = [{"energy_kwh_total": WRAP - 0.3, "energy_kwh_total_wrap": WRAP},
                {"energy_kwh_total": 0.2, "energy_kwh_total_wrap": WRAP}]
    (energy,) = _energy(_processor(tmp_path), readings)
    assert energy.fields["kwh"] == pytest.approx(0.5) and energy.tags["method"] == "measured"
    # Without the modulus the same drop is a restart: the energy since it, a lower bound.
    (restart,) = _energy(_processor(tmp_path / "b"), [{"energy_kwh_total": r["energy_kwh_total"]} for r in readings])
    assert restart.fields["kwh"] == pytest.approx(0.2)


def test_the_earlier_wrap_spelling_is_still_read(tmp_path: Path) -> None:
    readings = [{"energy_kwh_total": WRAP - 0.3, "energy_kwh_wrap": WRAP}, {"energy_kwh_total": 0.2, "energy_kwh_wrap": WRAP}]
    (energy,) = _energy(_processor(tmp_path), readings)
    assert energy.fields["kwh"] == pytest.approx(0.5)


def test_an_implausible_jump_is_a_gap_logged_once_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    proc = _processor(tmp_path)
    rate = 0.01  # kWh/s: 3 kWh in 300 s at most
    values = [100.0, 101.0, 102.0, 5000.0, 5001.0, 9000.0, 9001.0]
    with caplog.at_level(logging.WARNING, logger="sentinelle.carbon.processor"):
        energy = _energy(proc, [{"energy_kwh_total": v, "energy_kwh_total_max_rate": rate} for v in values])
    kwh = [round(p.fields["kwh"], 6) for p in energy]
    methods = [p.tags["method"] for p in energy]
    assert methods == ["measured", "measured", "estimated", "measured", "estimated", "measured"]
    assert kwh == [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]  # the jumps are estimated from the neighbours, not counted
    assert proc.implausible == 2
    lines = [r.getMessage() for r in caplog.records if "plausible rate" in r.getMessage()]
    assert len(lines) == 1 and "pdu-1" in lines[0] and "102.0" in lines[0] and "5000.0" in lines[0]


def test_a_reset_flag_restarts_the_count(tmp_path: Path) -> None:
    readings = [{"energy_kwh_total": 100.0}, {"energy_kwh_total": 101.0},
                {"energy_kwh_total": 0.4, "counter_reset": True}, {"energy_kwh_total": 0.9}]
    assert [round(p.fields["kwh"], 6) for p in _energy(_processor(tmp_path), readings)] == [1.0, 0.4, 0.5]


def test_an_snmp_state_file_of_an_earlier_release_keeps_its_reset_markers(tmp_path: Path) -> None:
    config = parse_config("inventory: {sites: [{id: s, devices: [{id: pdu-a, snmp: {host: 127.0.0.1}}]}]}")
    device = config.inventory.sites[0].devices[0]
    key = "pdu|pdu_module=1|energy_kwh_total"
    state = tmp_path / "pdu-a.json"
    state.write_text(json.dumps({"counters": {key: {"raw": 19516, "marker": "04/16/2019", "time_s": 0.0}},
                                 "events": {}, "uptime": [100, 0.0]}), encoding="utf-8")
    dev = SnmpDevice(device, None, ProfileCatalog.load(), 60.0, state_path=state)  # type: ignore[arg-type]
    assert dev.reset_markers.to_json() == {key: "04/16/2019"}
    saved = dev._state_data()
    assert saved["markers"] == {key: "04/16/2019"} and "counters" not in saved
    assert ResetMarkers.from_json(saved["markers"]).to_json() == {key: "04/16/2019"}
