"""LoRa gateway identity from the gateway bridge's metadata (issue 17).

The ChirpStack gateway bridge adds a `metadata` map to every `event/stats` message: static
key/values from its configuration and the output of metadata commands, which gateway makers
and integrators fill with the model, serial number and firmware. Those keys are not
standardised, so a few usual spellings are read; a value that is a placeholder or garbage is
refused and flagged exactly like an SNMP identity (collectors/identity_values.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from sentinelle.agent.core import FieldValue, Point
from sentinelle.collectors.identity_values import clean_text

MEASUREMENT = "inventory"
# identity field -> metadata keys (compared case-insensitively, `-` and ` ` read as `_`)
KEYS: dict[str, tuple[str, ...]] = {
    "model": ("model", "gateway_model", "hardware_model", "product", "product_name"),
    "serial": ("serial", "serial_number", "serialnumber", "sn"),
    "firmware": ("firmware", "firmware_version", "fw_version", "os_version", "version"),
    "manufacturer": ("manufacturer", "vendor", "brand"),
}


def identity_point(gateway_id: str, region: str | None, metadata: Mapping[str, str], time_ns: int) -> Point | None:
    """An `inventory` point for the gateway, or None when its metadata says nothing of it."""
    folded = {str(k).strip().lower().replace("-", "_").replace(" ", "_"): str(v) for k, v in metadata.items()}
    fields: dict[str, FieldValue] = {}
    flags: dict[str, str] = {}
    for name, keys in KEYS.items():
        raw = next((folded[k] for k in keys if k in folded), None)
        if raw is None:
            continue
        got = clean_text("firmware_rev" if name == "firmware" else name, raw)
        if got.value is not None:
            fields[name] = got.value
        elif got.flag is not None:
            flags[name] = got.flag
    if not fields and not flags:
        return None
    for name in ("model", "serial"):
        if name not in fields:
            flags.setdefault(name, "missing")
    if "manufacturer" in fields:
        fields["vendor"] = fields["manufacturer"]
    fields["profile"] = "chirpstack-gateway-metadata"
    fields["identified"] = "model" in fields or "serial" in fields
    if flags:
        fields["flags"] = ",".join(f"{k}:{v}" for k, v in sorted(flags.items()))
    tags = {"gateway_id": gateway_id, "part": "gateway", "part_class": "lora_gateway", "role": "equipment"}
    if region:
        tags["region"] = region
    return Point(MEASUREMENT, tags, fields, time_ns)
