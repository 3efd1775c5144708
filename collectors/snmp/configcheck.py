"""SNMP rules the configuration models cannot see alone: profile directories and names.

Registered in `agent.parts.CONFIG_CHECKS`, so `check` refuses what `build_targets` would
refuse at start-up, with the file line of the offending key.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sentinelle.collectors.snmp.profiles import SHIPPED_DIR, ProfileCatalog, ProfileError


def config_problems(config: Any) -> Iterable[tuple[tuple[Any, ...], str]]:
    try:
        catalog = catalog_for(config.snmp.profiles_dirs)
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


def catalog_for(dirs: Sequence[Path]) -> ProfileCatalog:
    """The profile catalogue of these directories, parsed again only when a file changed
    (parsing every profile costs ~50 ms, and tests validate hundreds of configurations)."""
    stamps = tuple(_stamp(Path(d)) for d in (SHIPPED_DIR, *dirs))
    return _load(stamps, tuple(str(d) for d in dirs))


@functools.lru_cache(maxsize=8)
def _load(stamps: tuple[Any, ...], dirs: tuple[str, ...]) -> ProfileCatalog:
    return ProfileCatalog.load([Path(d) for d in dirs])


def _stamp(directory: Path) -> tuple[Any, ...]:
    if not directory.is_dir():
        return (str(directory), None)
    files = sorted(directory.glob("*.y*ml"))
    return (str(directory), tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files))
