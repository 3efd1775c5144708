"""LoRa identities from the inventory: which end device or gateway is which inventory device.

An inventory device declares `lora: {dev_eui: ...}` (end device) or `lora: {gateway_id: ...}`
(gateway). Points about it then carry `device=<inventory id>` and `site=<its site>`, so the
pipeline adds the rest of the identity tags (member, contract, operator...) as for any device.
A LoRa energy meter also declares where its decoded payload holds a kWh index and/or a power
in W; those values are copied to `energy_kwh_total` / `power_w`, the field names a PDU uses, so
carbon/ computes its energy exactly as for a PDU.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sentinelle.agent.core import Point
from sentinelle.collectors.mqtt.decoders.common import as_float, flat_name
from sentinelle.collectors.mqtt.settings import LoraEnergyFieldSettings, LoraMeterFieldSettings

if TYPE_CHECKING:
    from sentinelle.agent.config import InventorySettings  # composed at run time


DECODED_PREFIX = "decoded_"


@dataclass(frozen=True, slots=True)
class LoraIdentity:
    device: str
    site: str
    # (target field, flattened decoded field, scale) for energy meters.
    meter_fields: tuple[tuple[str, str, float], ...] = ()
    # What the configuration says of the meter's counter, written beside each reading of it
    # (`energy_kwh_total_wrap`, `energy_kwh_total_max_rate`: docs/meter-readings.md).
    counter_fields: tuple[tuple[str, float], ...] = ()


class LoraInventory:
    """Lookup of LoRa end devices and gateways declared in the inventory."""

    def __init__(self, devices: dict[str, LoraIdentity], gateways: dict[str, LoraIdentity], default_site: str | None = None):
        self.devices = devices
        self.gateways = gateways
        self.default_site = default_site

    @classmethod
    def from_inventory(cls, inventory: InventorySettings, default_site: str | None = None) -> LoraInventory:
        devices: dict[str, LoraIdentity] = {}
        gateways: dict[str, LoraIdentity] = {}
        for site in inventory.sites:
            for dev in site.devices:
                lora = dev.lora
                if lora is None:
                    continue
                if lora.dev_eui:
                    devices[lora.dev_eui] = LoraIdentity(dev.id, site.id, _meter_fields(lora.energy_kwh_total, lora.power_w),
                                                         _counter_fields(lora.energy_kwh_total))
                if lora.gateway_id:
                    gateways[lora.gateway_id] = LoraIdentity(dev.id, site.id)
        return cls(devices, gateways, default_site)

    def enrich(self, points: Iterable[Point]) -> None:
        """Add `device`/`site` (and meter fields) in place; a point's own tags are kept."""
        for point in points:
            tags = point.tags
            ident: LoraIdentity | None = None
            eui = tags.get("dev_eui")
            if eui is not None:
                ident = self.devices.get(eui)
            else:
                gateway = tags.get("gateway_id")
                if gateway is not None:
                    ident = self.gateways.get(gateway)
            if ident is None:
                if self.default_site and "site" not in tags:
                    tags["site"] = self.default_site
                continue
            tags.setdefault("device", ident.device)
            tags.setdefault("site", ident.site)
            if ident.meter_fields and point.measurement == "lora_device":
                for target, source, scale in ident.meter_fields:
                    value = as_float(point.fields.get(source))
                    if value is not None:
                        point.fields[target] = value * scale
                if "energy_kwh_total" in point.fields:
                    point.fields.update(ident.counter_fields)


def _counter_fields(energy: LoraEnergyFieldSettings | None) -> tuple[tuple[str, float], ...]:
    if energy is None:
        return ()
    out: list[tuple[str, float]] = []
    if energy.wrap is not None:
        out.append(("energy_kwh_total_wrap", energy.wrap * energy.scale))
    if energy.max_rate is not None:
        out.append(("energy_kwh_total_max_rate", energy.max_rate))
    return tuple(out)


def _meter_fields(energy: LoraMeterFieldSettings | None, power: LoraMeterFieldSettings | None) -> tuple[tuple[str, str, float], ...]:
    out: list[tuple[str, str, float]] = []
    if energy is not None:
        out.append(("energy_kwh_total", flat_name(energy.path, DECODED_PREFIX), energy.scale))
    if power is not None:
        out.append(("power_w", flat_name(power.path, DECODED_PREFIX), power.scale))
    return tuple(out)
