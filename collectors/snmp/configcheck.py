"""SNMP rules the configuration models cannot see alone: profile directories and names.

Registered in `agent.config.CONFIG_CHECKS`, so `check` refuses what `build_targets` would
refuse at start-up, with the file line of the offending key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from collectors.snmp.profiles import ProfileCatalog, ProfileError


def config_problems(config: Any) -> Iterable[tuple[tuple[Any, ...], str]]:
    try:
        catalog = ProfileCatalog.load(config.snmp.profiles_dirs)
    except ProfileError as exc:
        yield ("snmp", "profiles_dirs"), str(exc)
        return
    known = ", ".join(catalog.names())
    for si, site in enumerate(config.inventory.sites):
        for di, dev in enumerate(site.devices):
            for pi, name in enumerate(dev.profiles):
                if name in catalog.profiles:
                    continue
                key = ("inventory", "sites", si, "devices", di, "profiles", pi)
                yield key, f"unknown SNMP profile {name!r} (known: {known})"
            if dev.profiles and dev.snmp is None:
                yield ("inventory", "sites", si, "devices", di, "profiles"), (
                    f"device {dev.id!r} names SNMP profiles but has no 'snmp:' section (host, community...)"
                )
