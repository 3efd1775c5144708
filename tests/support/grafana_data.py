"""A realistic synthetic demo data set for the Grafana tests and the README previews.

Used only by scripts/render_previews.py (a day of history reads better in a README image than
the agent's 16 s test run); tests/grafana/test_queries.py runs on agent-written data. Tags and
fields follow what the agent writes (grafana/README.md).

`demo_points(end_ns)` returns line protocol for one day at one-minute steps ending at
`end_ns` (default: now, floored to the minute), shaped like what the agent writes
(DESIGN section 2; the measurement/field table is grafana/README.md):

- site ``nro-lannion`` (NRO shelter): UPS, PDU, switch, GPON OLT, temperature sensor; a mains
  failure in the night and one *in progress* at the end (UPS on battery, autonomy falling
  under 15 min), a switch port down since mid-morning, one ONT below the optical budget;
- site ``dc-saint-brieuc`` (small data centre): general meter (facility), UPS, two IT PDUs
  (PUE ~1.4), core switch; a short mains failure; one PDU unreachable for the last 12 min;
- site ``lora-cotes-armor`` (LoRaWAN): two gateways (one offline for the last 2 h) and
  three sensors;
- ``energy`` per meter and minute, ``carbon`` on both tracks, ``grid_intensity`` every
  15 min, ``event`` points (outages, on-battery, mains failures, link down, gateway offline),
  ``agent_internal`` for two agents (one had a 1 h sink outage: spool grows then drains).

The incidents "in progress" at the end are deliberate: a NOC dashboard's "now" panels and
the alert rules' queries must have something to show.

When the agent's ``sentinelle demo`` can fill an InfluxDB (or export its local store as
line protocol), swap it in by changing :func:`demo_points` only — the tests and
scripts/render_previews.py call nothing else.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator

from sentinelle.agent.core import Point
from sentinelle.agent.lineprotocol import encode_point

MINUTE_NS = 60 * 10**9
DAY_MIN = 24 * 60

BEGES_FACTOR = 52.0  # gCO2e/kWh, ADEME Base Empreinte, électricité mix moyen consommation (order of magnitude)

SITES = {
    "nro-lannion": {
        "site_kind": "nro",
        "member": "lannion-tregor-communaute",
        "contract": "dsp-rip-22",
        "operator": "armor-fibre-delegataire",
        "agent": "nro-lannion-01",
    },
    "dc-saint-brieuc": {
        "site_kind": "datacentre",
        "member": "saint-brieuc-armor-agglomeration",
        "contract": "marche-hebergement-2024",
        "operator": "syndicat-regie",
        "agent": "dc-saint-brieuc-01",
    },
    "lora-cotes-armor": {
        "site_kind": "lora",
        "member": "departement-cotes-darmor",
        "contract": "marche-lorawan-2023",
        "operator": "syndicat-regie",
        "agent": "dc-saint-brieuc-01",
    },
}

# device id -> (site, device_kind)
DEVICES = {
    "ups-1": ("nro-lannion", "ups"),
    "pdu-a": ("nro-lannion", "pdu"),
    "sw-1": ("nro-lannion", "switch"),
    "olt-1": ("nro-lannion", "olt"),
    "sonde-1": ("nro-lannion", "sensor"),
    "tgbt": ("dc-saint-brieuc", "energy_meter"),
    "ups-dc": ("dc-saint-brieuc", "ups"),
    "pdu-it-1": ("dc-saint-brieuc", "pdu"),
    "pdu-it-2": ("dc-saint-brieuc", "pdu"),
    "sw-core": ("dc-saint-brieuc", "switch"),
    "gw-01": ("lora-cotes-armor", "lora_gateway"),
    "gw-02": ("lora-cotes-armor", "lora_gateway"),
    "capteur-temp-01": ("lora-cotes-armor", "lora_sensor"),
    "capteur-temp-02": ("lora-cotes-armor", "lora_sensor"),
    "compteur-eau-01": ("lora-cotes-armor", "lora_sensor"),
}
SNMP_DEVICES = [d for d, (_, k) in DEVICES.items() if not k.startswith("lora")]

# Energy meters: device -> (meter role, load, mean power W)
METERS = {
    "ups-1": ("primary", "facility", 1850.0),
    "pdu-a": ("sub", "it", 1500.0),
    "tgbt": ("primary", "facility", 26500.0),
    "ups-dc": ("sub", "other", 19800.0),
    "pdu-it-1": ("sub", "it", 10200.0),
    "pdu-it-2": ("sub", "it", 8800.0),
}

INTERFACES = {"sw-1": ["ge-0/0/0", "ge-0/0/1", "ge-0/0/2", "ge-0/0/3"],
              "sw-core": ["xe-0/0/0", "xe-0/0/1", "xe-0/0/2", "xe-0/0/3"]}
ONTS = [(pon, ont) for pon in ("0/1/0", "0/1/1") for ont in range(1, 5)]
WEAK_ONT = ("0/1/0", 3)  # below the class B+ budget (-27 dBm) all day


def identity(device: str) -> dict[str, str]:
    site, kind = DEVICES[device]
    s = SITES[site]
    return {"site": site, "site_kind": s["site_kind"], "member": s["member"], "contract": s["contract"],
            "operator": s["operator"], "device": device, "device_kind": kind}


def _floor_minute(ns: int) -> int:
    return ns - ns % MINUTE_NS


class _Scenario:
    """Incident windows in minutes from the start of the day (0..1439)."""

    def __init__(self) -> None:
        last = DAY_MIN - 1
        # NRO mains failures: one in the night, one in progress at the end.
        self.nro_mains = [(190, 215), (last - 24, last + 1)]
        self.dc_mains = [(600, 604)]
        self.sw1_port_down_from = 600  # ge-0/0/3 down from 10:00 (relative) on
        self.pdu_it_2_down_from = last - 11  # unreachable for the last 12 minutes
        self.sw1_outage = (420, 433)  # switch unreachable 13 min
        self.gw_02_offline_from = last - 120
        self.sink_outage = (1200, 1260)  # dc agent's sink down for an hour

    @staticmethod
    def within(m: int, windows: list[tuple[int, int]]) -> tuple[int, int] | None:
        for a, b in windows:
            if a <= m < b:
                return (a, b)
        return None


def _points(end_ns: int) -> Iterator[Point]:
    rnd = random.Random(22)
    sc = _Scenario()
    start_ns = end_ns - (DAY_MIN - 1) * MINUTE_NS
    counters: dict[str, float] = {}
    battery = {"ups-1": 48.0, "ups-dc": 22.0}
    prev_state: dict[tuple[str, str], bool] = {}

    def ev(t: int, device: str, kind: str, state: str, message: str, duration_s: float = 0.0) -> Point:
        return Point("event", identity(device),
                     {"kind": kind, "state": state, "message": message, "duration_s": float(duration_s)}, t)

    def edge(t: int, device: str, key: str, active: bool, kind: str, start_msg: str, end_msg: str,
             started_at: dict[tuple[str, str], int]) -> Iterator[Point]:
        was = prev_state.get((device, key), False)
        if active and not was:
            started_at[(device, key)] = t
            yield ev(t, device, kind, "start", start_msg)
        elif was and not active:
            dur = (t - started_at.pop((device, key), t)) / 1e9
            yield ev(t, device, kind, "end", end_msg, dur)
        prev_state[(device, key)] = active

    started: dict[tuple[str, str], int] = {}

    for m in range(DAY_MIN):
        t = start_ns + m * MINUTE_NS
        hour = ((m / 60.0) + 0) % 24
        diurnal = 1.0 + 0.08 * math.sin((hour - 8) / 24 * 2 * math.pi)

        unreachable = {
            "pdu-it-2": m >= sc.pdu_it_2_down_from,
            "sw-1": sc.within(m, [sc.sw1_outage]) is not None,
        }
        for dev in SNMP_DEVICES:
            down = unreachable.get(dev, False)
            fields: dict[str, float | bool] = {"reachable": not down,
                                               "poll_duration_s": round(rnd.uniform(0.08, 0.6), 3)}
            if down:
                fields["poll_duration_s"] = 2.0
            else:
                fields["uptime_s"] = float(86400 * 30 + m * 60)
            yield Point("device_status", identity(dev), fields, t)
            yield from edge(t, dev, "reachable", down, "outage", f"{dev} injoignable", f"{dev} de nouveau joignable",
                            started)

        # UPS
        for ups, windows, load_w in (("ups-1", sc.nro_mains, 1850.0), ("ups-dc", sc.dc_mains, 19800.0)):
            on_batt = sc.within(m, windows) is not None
            if on_batt:
                battery[ups] = max(0.0, battery[ups] - (1.4 if ups == "ups-1" else 1.0))
            else:
                battery[ups] = min(48.0 if ups == "ups-1" else 22.0, battery[ups] + 0.5)
            full = 48.0 if ups == "ups-1" else 22.0
            key = f"{ups}.line_bads"
            if on_batt and (ups, "mains") not in started:
                counters[key] = counters.get(key, 3.0) + 1
            counters.setdefault(key, 3.0)
            yield Point("ups", identity(ups), {
                "on_battery": on_batt,
                "battery_minutes_remaining": round(battery[ups], 1),
                "battery_charge_pct": round(100.0 * battery[ups] / full, 1),
                "output_power_w": round(load_w * diurnal * rnd.uniform(0.97, 1.03), 1),
                "output_load_pct": round(100 * load_w / (3000.0 if ups == "ups-1" else 40000.0), 1),
                "input_line_bads": int(counters[key]),
            }, t)
            yield from edge(t, ups, "mains", on_batt, "mains_failure", "coupure secteur", "retour secteur", started)
            yield from edge(t, ups, "battery", on_batt, "on_battery", "onduleur sur batterie",
                            "onduleur sur secteur", started)

        # PDUs and meters (power + cumulative energy)
        for dev, (_role, _load, mean_w) in METERS.items():
            if DEVICES[dev][1] == "ups":
                continue
            if unreachable.get(dev):
                continue
            p = mean_w * diurnal * rnd.uniform(0.97, 1.03)
            k = f"{dev}.kwh"
            counters[k] = counters.get(k, 12000.0 + mean_w / 10) + p / 60000.0
            meas = "pdu"
            yield Point(meas, identity(dev), {"power_w": round(p, 1), "energy_kwh_total": round(counters[k], 3),
                                              "current_a": round(p / 230.0, 2)}, t)
            if meas == "pdu":
                for phase in ("1", "2", "3") if mean_w > 5000 else ("1",):
                    yield Point("pdu_phase", {**identity(dev), "phase": phase},
                                {"power_w": round(p / (3 if mean_w > 5000 else 1), 1),
                                 "current_a": round(p / 230.0 / (3 if mean_w > 5000 else 1), 2)}, t)

        # energy and carbon per meter (minute intervals)
        grid = 32.0 + 18.0 * math.sin((hour - 19) / 24 * 2 * math.pi) + rnd.uniform(-2, 2)
        if m % 15 == 0:
            yield Point("grid_intensity", {"zone": "fr", "source": "rte-eco2mix"},
                        {"gco2e_per_kwh": round(grid, 1)}, t)
        for dev, (role, load, mean_w) in METERS.items():
            method = "measured" if DEVICES[dev][1] == "pdu" or dev == "tgbt" else "integrated"
            if unreachable.get(dev):
                method = "estimated"
            kwh = round(mean_w * diurnal * rnd.uniform(0.98, 1.02) / 60000.0, 5)
            tags = {**identity(dev), "meter": dev, "meter_role": role, "meter_load": load, "method": method}
            yield Point("energy", tags, {"kwh": kwh}, t)
            for track, factor, source, version in (("beges", BEGES_FACTOR, "ademe-base-empreinte", "2024"),
                                                   ("grid", round(grid, 1), "rte-eco2mix", "live")):
                yield Point("carbon", {**identity(dev), "meter": dev, "meter_role": role, "meter_load": load, "track": track,
                                       "factor_source": source, "factor_version": version},
                            {"gco2e": round(kwh * factor, 4), "factor_gco2e_per_kwh": factor}, t)

        # interfaces
        for sw, ifs in INTERFACES.items():
            if unreachable.get(sw):
                continue
            for i, ifname in enumerate(ifs):
                up = not (sw == "sw-1" and ifname == "ge-0/0/3" and m >= sc.sw1_port_down_from)
                k = f"{sw}.{ifname}"
                rate = (4e8 if sw == "sw-core" else 6e7) * diurnal * (1 + i / 4) if up else 0.0
                counters[k + ".in"] = (counters.get(k + ".in", 1e9) + rate * 60 / 8) % 2**64
                counters[k + ".out"] = (counters.get(k + ".out", 1e9) + rate * 45 / 8) % 2**64
                counters[k + ".err"] = counters.get(k + ".err", 0) + (1 if rnd.random() < 0.01 else 0)
                yield Point("interface", {**identity(sw), "interface": ifname}, {
                    "oper_up": up, "in_octets": int(counters[k + ".in"]), "out_octets": int(counters[k + ".out"]),
                    "in_errors": int(counters[k + ".err"])}, t)
                if sw == "sw-1" and ifname == "ge-0/0/3":
                    yield from edge(t, sw, "link", not up, "link_down", "ge-0/0/3 down", "ge-0/0/3 up", started)

        # OLT optics
        online = 0
        for pon, ont in ONTS:
            base = -28.6 if (pon, ont) == WEAK_ONT else -17.0 - ont * 1.3
            rx = round(base + rnd.uniform(-0.3, 0.3), 2)
            online += 1
            yield Point("ont", {**identity("olt-1"), "pon": pon, "ont_id": str(ont), "ont_name": f"abonne-{ont:04d}"},
                        {"rx_power_dbm": rx, "tx_power_dbm": round(2.1 + rnd.uniform(-0.1, 0.1), 2)}, t)
        for pon in ("0/1/0", "0/1/1"):
            yield Point("pon", {**identity("olt-1"), "pon": pon}, {"onts_online": 4}, t)

        # sensors
        yield Point("sensor", {**identity("sonde-1"), "sensor": "baie"}, {
            "temperature_c": round(24 + 3 * math.sin((hour - 15) / 24 * 2 * math.pi) + rnd.uniform(-0.2, 0.2), 2),
            "humidity_pct": round(45 + rnd.uniform(-2, 2), 1)}, t)

        # LoRa gateways and devices
        for gw in ("gw-01", "gw-02"):
            offline = gw == "gw-02" and m >= sc.gw_02_offline_from
            age = (m - sc.gw_02_offline_from) * 60.0 + 30 if offline else rnd.uniform(5, 40)
            rx_ok = 0 if offline else rnd.randint(20, 60)
            rx_total = rx_ok + (0 if offline else rnd.randint(0, 3))
            yield Point("lora_gateway", {**identity(gw), "gateway_id": f"0016c001f153a1{gw[-2:]}"}, {
                "online": not offline, "rx_ok": rx_ok, "tx_ok": 0 if offline else rnd.randint(0, 5),
                "rx_ok_ratio": round(rx_ok / rx_total, 3) if rx_total else 0.0,
                "last_seen_age_s": round(age, 1)}, t)
            yield from edge(t, gw, "online", offline, "gateway_offline", f"passerelle {gw} hors ligne",
                            f"passerelle {gw} en ligne", started)
        if m % 10 == 0:
            for dev in ("capteur-temp-01", "capteur-temp-02", "compteur-eau-01"):
                yield Point("lora_device", {**identity(dev), "gateway": "gw-01"}, {
                    "rssi_dbm": round(rnd.uniform(-118, -85), 1), "snr_db": round(rnd.uniform(-8, 9), 1),
                    "f_cnt": m // 10}, t)

        # agent self-metrics
        for agent, ndev in (("nro-lannion-01", 5), ("dc-saint-brieuc-01", 10)):
            a = f"agent.{agent}"
            outage = agent == "dc-saint-brieuc-01" and sc.within(m, [sc.sink_outage]) is not None
            per_min = 40 * ndev
            counters[a + ".spooled"] = counters.get(a + ".spooled", 0) + per_min
            pending = counters.get(a + ".pending", 0.0)
            if outage:
                pending += per_min
                counters[a + ".oldest_from"] = counters.get(a + ".oldest_from", m)
            else:
                written_now = per_min + min(pending, 3000)
                pending = max(0.0, pending - 3000)
                counters[a + ".written"] = counters.get(a + ".written", 0) + written_now
                if pending == 0:
                    counters.pop(a + ".oldest_from", None)
            counters[a + ".pending"] = pending
            counters[a + ".errors"] = counters.get(a + ".errors", 0) + (1 if outage else 0)
            counters[a + ".poll_sum"] = counters.get(a + ".poll_sum", 0) + ndev * rnd.uniform(0.1, 0.4)
            counters[a + ".poll_count"] = counters.get(a + ".poll_count", 0) + ndev
            oldest = (m - counters[a + ".oldest_from"]) * 60.0 if a + ".oldest_from" in counters else 0.0
            yield Point("agent_internal", {"agent": agent}, {
                "points_collected_total": float(counters[a + ".spooled"]),
                "spool_pending": float(pending),
                "spool_bytes": pending * 180.0 + 65536.0,
                "spool_oldest_age_seconds": oldest,
                "spool_dropped_total": 0.0,
                "poll_duration_seconds_sum": round(counters[a + ".poll_sum"], 3),
                "poll_duration_seconds_count": float(counters[a + ".poll_count"]),
                "polls_skipped_total": 0.0,
            }, t)
            yield Point("agent_internal", {"agent": agent, "sink": "influxdb2-0"}, {
                "sink_points_written_total": float(counters.get(a + ".written", 0.0)),
                "sink_write_errors_total": float(counters[a + ".errors"]),
            }, t)
            for dev in [d for d in SNMP_DEVICES if SITES[DEVICES[d][0]]["agent"] == agent]:
                k = f"{a}.{dev}.err"
                if unreachable.get(dev):
                    counters[k] = counters.get(k, 0) + 1
                yield Point("agent_internal", {"agent": agent, "device": dev},
                            {"poll_errors_total": float(counters.get(k, 0.0))}, t)


def demo_points(end_ns: int | None = None) -> list[str]:
    """The demo data set as line protocol lines (nanosecond timestamps)."""
    if end_ns is None:
        end_ns = time.time_ns()
    end_ns = _floor_minute(end_ns)
    return [encode_point(p) for p in _points(end_ns)]


def write_demo(influx, db: str, end_ns: int | None = None, batch: int = 20000) -> int:  # noqa: ANN001
    """Create `db` on an InfluxDB1 test server and write the demo data into it; return the line count."""
    influx.query(f'CREATE DATABASE "{db}"')
    lines = demo_points(end_ns)
    for i in range(0, len(lines), batch):
        influx.write(lines[i:i + batch], db=db)
    return len(lines)
