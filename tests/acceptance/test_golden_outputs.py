"""Golden outputs: the restructuring of issue 12 must not change a single figure.

A fixed stream of readings, shaped exactly as the collectors emit them today (SNMP counters with
a Counter32 wrap modulus, a user reset, a gap, power-only meters, a LoRa pulse meter, non-meter
points passing through), goes through the live pipeline (inventory tags, then the carbon
processor) into the embedded local store. From that store the test produces what users see:
the derived `energy`/`carbon` points, `sentinelle report --format csv,json` run as a
subprocess, and the demo's summary (device table and carbon totals). Each output is compared
with the copy held in `tests/testdata/golden/`, produced before the restructuring began.

To regenerate on purpose (a change of behaviour that is meant): `SENTINELLE_GOLDEN=write`,
then review the diff of `tests/testdata/golden/` in the commit.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sentinelle.agent.config import parse_config
from sentinelle.agent.core import NS, Point
from sentinelle.agent.demo import summarise_devices
from sentinelle.agent.pipeline import InventoryTags
from sentinelle.agent.sinks.local import LocalStore
from sentinelle.carbon.commands.demo_summary import summarise
from sentinelle.carbon.processor import build_processors
from tests.acceptance.runner import sentinelle_argv

GOLDEN = Path(__file__).resolve().parent.parent / "testdata" / "golden"
PARIS = ZoneInfo("Europe/Paris")
# Two days across the spring DST change (Sunday 30 March 2025, 02:00 -> 03:00 local time).
START = int(datetime(2025, 3, 29, tzinfo=PARIS).timestamp()) * NS
END = int(datetime(2025, 3, 31, tzinfo=PARIS).timestamp()) * NS
STEP = 900 * NS

CONFIG = """
agent: {{name: golden, interval: 15m}}
inventory:
  sites:
    - id: nro-golden
      kind: nro
      member: golden-communaute
      contract: dsp-golden
      operator: golden-delegataire
      devices:
        - {{id: tgbt-golden, kind: meter, meter: {{role: primary, load: facility}}}}
        - {{id: ups-golden, kind: ups, meter: {{role: sub, load: other, parent: tgbt-golden}}}}
        - {{id: pdu-golden, kind: pdu, meter: {{role: sub, load: it, parent: ups-golden}}}}
        - {{id: sw-golden, kind: switch}}
    - id: dc-corse
      kind: datacentre
      member: corse-collectivite
      contract: dsp-corse
      operator: golden-delegataire
      zone: corse
      devices:
        - {{id: meter-corse, kind: meter, meter: {{role: primary, load: facility}}}}
        - {{id: lora-pulse-corse, kind: lora_sensor, meter: {{role: sub, load: it, parent: meter-corse}}}}
carbon:
  grid_intensity: {{provider: static, value_gco2e_per_kwh: 40}}
sinks:
  - {{type: local, path: {store}}}
"""


def collector_stream() -> list[list[Point]]:
    """One batch per 15-minute cycle, as the SNMP and MQTT collectors emit them."""
    batches: list[list[Point]] = []
    wrap_kwh = 2**32 * 0.001  # a Counter32 of Wh scaled to kWh
    tgbt = wrap_kwh - 30.0  # wraps within the first day
    corse = 5000.0
    pulses = 100.0
    octets = 2**32 - 10_000_000
    t = START
    i = 0
    while t <= END:
        batch: list[Point] = []
        hour = datetime.fromtimestamp(t / NS, PARIS).hour
        load = 1.0 + 0.5 * (8 <= hour < 20)  # a day/night profile, so integration order matters
        gap = 40 <= i < 48  # 2 h without any answer from the site's devices
        if not gap:
            tgbt_fields: dict[str, float | bool] = {"energy_kwh_total": round(tgbt % wrap_kwh, 3), "energy_kwh_total_wrap": wrap_kwh,
                                                    "power_w": 4000.0 * load}
            if i == 120:  # a user reset the meter: the collector flags it, the count restarts
                tgbt = 12.0
                tgbt_fields = {"energy_kwh_total": tgbt, "energy_kwh_total_wrap": wrap_kwh, "counter_reset": True,
                               "power_w": 4000.0 * load}
            batch.append(Point("meter", {"device": "tgbt-golden"}, tgbt_fields, t))
            batch.append(Point("ups_output", {"device": "ups-golden"}, {"output_power_w": 3000.0 * load}, t))
            batch.append(Point("pdu", {"device": "pdu-golden"}, {"power_w": 2200.0 * load}, t))
            batch.append(Point("pdu_outlet", {"device": "pdu-golden", "outlet": "1"},
                               {"energy_kwh_total": 10.0 + i * 0.1, "power_w": 400.0}, t))
            batch.append(Point("interface", {"device": "sw-golden", "interface": "ge-0/0/1"},
                               {"if_in_octets": float(octets % 2**32), "oper_up": True}, t))
            batch.append(Point("device_status", {"device": "sw-golden"}, {"reachable": True, "uptime_s": 1000.0 + i * 900}, t))
        batch.append(Point("meter", {"device": "meter-corse"}, {"energy_kwh_total": round(corse, 3)}, t))
        if i % 4 == 0:  # a LoRa pulse meter reports hourly
            batch.append(Point("lora", {"device": "lora-pulse-corse", "dev_eui": "70b3d57ed0000001"},
                               {"energy_kwh_total": round(pulses, 3), "rssi_dbm": -97.0}, t))
        batches.append(batch)
        tgbt += 1.0 * load  # 4 kW facility -> 1 kWh per 15 min at night
        corse += 0.5 * load
        if i % 4 == 0:
            pulses += 1.2 * load
        octets += 123_456_789
        t += STEP
        i += 1
    return batches


def derived_digest(points: list[Point]) -> str:
    """The derived `energy` and `carbon` points, summed per series, method and local day.

    Sums keep the full float repr, so any change in any interval shows; the file stays small
    enough to review in a diff (the raw points would be close to a megabyte).
    """
    groups: dict[str, dict[str, float]] = {}
    for p in points:
        if p.measurement not in ("energy", "carbon"):
            continue
        day = datetime.fromtimestamp(p.time_ns / NS, PARIS).date().isoformat()
        key = f"{p.measurement},{','.join(f'{k}={v}' for k, v in sorted(p.tags.items()))} {day}"
        group = groups.setdefault(key, {"count": 0})
        group["count"] += 1
        group["first_ns"] = min(group.get("first_ns", p.time_ns), p.time_ns)
        group["last_ns"] = max(group.get("last_ns", p.time_ns), p.time_ns)
        for name, value in sorted(p.fields.items()):
            if isinstance(value, int | float) and not isinstance(value, bool):
                group[name] = group.get(name, 0.0) + value
    return json.dumps(groups, indent=1, sort_keys=True) + "\n"


def produce(work: Path) -> dict[str, str]:
    """Every output the golden compares, as text, keyed by the golden file name."""
    store = work / "local.db"
    text = CONFIG.format(store=store)
    config_path = work / "golden.yaml"
    config_path.write_text(text, encoding="utf-8")
    config = parse_config(text, str(config_path))
    tags = InventoryTags(config.inventory)
    (processor,) = build_processors(config, work / "state")
    written: list[Point] = []
    for batch in collector_stream():
        written += processor.process(tags.process(batch))
    db = LocalStore(store)
    db.write_points(written)
    db.close()

    outputs: dict[str, str] = {}
    outputs["derived-points.json"] = derived_digest(written)

    out = work / "report"
    proc = subprocess.run(
        [*sentinelle_argv(), "report", "-c", str(config_path), "--from", "2025-03-29", "--to", "2025-03-31",
         "--format", "csv,json", "--out", str(out), "--lang", "en"],
        capture_output=True, text=True, timeout=120, cwd=work,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        body = path.read_text(encoding="utf-8-sig")
        if path.suffix == ".json":
            doc = json.loads(body)
            stamp = doc.pop("generated_at", None)  # the only value that depends on when the test runs
            body = json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
            if stamp:
                body = body.replace(stamp, "<now>")
        outputs["report-" + "-".join(path.relative_to(out).parts)] = body

    inventory = [{"id": d.id, "site": s.id, "kind": d.kind, **({"snmp": True} if d.kind != "lora_sensor" else {})}
                 for s in config.inventory.sites for d in s.devices]
    devices = [d.__dict__ for d in summarise_devices(store, inventory)]
    totals = summarise(store, work / "demo", START, END, lang="en")
    outputs["demo-summary.json"] = json.dumps({
        "devices": devices,
        "kwh": totals.kwh, "beges_tco2e": totals.beges_tco2e, "beges_uncertainty_pct": totals.beges_uncertainty_pct,
        "grid_tco2e": totals.grid_tco2e, "completeness_pct": totals.completeness_pct,
        "lines": totals.lines("en"),
    }, indent=1, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    # This run's temporary directory and the report's generation time are not compared.
    generated = re.compile(r"^(Generated on,).*$", re.MULTILINE)
    return {name: generated.sub(r"\1<now>", body.replace(str(work), "<work>")) for name, body in outputs.items()}


def test_outputs_match_the_held_golden_copies(tmp_path: Path):
    outputs = produce(tmp_path)
    if os.environ.get("SENTINELLE_GOLDEN") == "write":
        for old in GOLDEN.glob("*"):
            old.unlink()
        for name, body in outputs.items():
            (GOLDEN / name).write_text(body, encoding="utf-8")
        pytest.skip("golden copies written; review and commit them")
    held = {p.name: p.read_text(encoding="utf-8") for p in GOLDEN.iterdir() if p.name != "README.md"}
    assert sorted(outputs) == sorted(held), "the set of output files changed"
    for name, body in outputs.items():
        assert body == held[name], f"{name} differs from tests/testdata/golden/{name}"


def test_the_stream_exercises_what_it_claims(tmp_path: Path):
    """Guards the golden against becoming trivial: wrap, reset, gap and both meter kinds occur."""
    points = [p for batch in collector_stream() for p in batch]
    tgbt = [p.fields["energy_kwh_total"] for p in points if p.tags.get("device") == "tgbt-golden" and p.measurement == "meter"]
    assert any(b < a for a, b in zip(tgbt, tgbt[1:], strict=False)), "no counter drop (wrap or reset)"
    assert any(p.fields.get("counter_reset") for p in points)
    derived = produce(tmp_path)["derived-points.json"]
    assert "method=integrated" in derived and "method=measured" in derived and "method=estimated" in derived
    assert "pdu_outlet" not in derived
