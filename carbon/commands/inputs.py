"""What the import and recompute commands build from their arguments and the configuration:
the configuration itself, the factor table and the grid provider (each cached per process
while its file is unchanged: a manifest asks once per meter), the output language."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Any


def load_agent_config(path: str) -> Any:
    # A ConfigError propagates: `sentinelle` prints it as FILE:LINE: key: reason, exit 2.
    from sentinelle.agent.config import load_config

    return load_config(path)


def file_stamp(path: Any) -> tuple[str, int, int] | None:
    """What says a file is unchanged (path, mtime, size); None when there is no file to read."""
    if not path:
        return None
    try:
        st = Path(path).stat()
    except OSError:
        return (str(path), -1, -1)  # the loader reports the error
    return str(path), st.st_mtime_ns, st.st_size


def factor_table(args: argparse.Namespace, config: Any) -> Any:
    return _factor_table(file_stamp(args.factors or config.carbon.factors_file))


@functools.lru_cache(maxsize=8)
def _factor_table(stamp: tuple[str, int, int] | None) -> Any:
    # Cached per process while the file is unchanged: a manifest of 100 meters parsed the
    # YAML table 100 times (a tenth of a second each).
    from sentinelle.carbon.factors import FactorTable

    return FactorTable.from_file(stamp[0]) if stamp else FactorTable.embedded()


def grid_provider(config: Any, factors: Any) -> Any:
    """The configured grid provider if it can answer for past times (csv, static), else None.
    Built once per process while its settings and file are unchanged (a year of éCO2mix
    quarter-hours is 35,000 rows, and a manifest asks once per meter)."""
    from sentinelle.carbon.factors import FactorError
    from sentinelle.carbon.processor import grid_from_settings

    settings = config.carbon.grid_intensity
    if settings.provider not in ("csv", "static"):
        return None
    # The table itself in the key (hashed by identity, and kept alive by the cache so that
    # identity is never reused): the fallback value depends on it.
    key = (settings.model_dump_json(), file_stamp(settings.path), str(config.agent.data_dir), factors)
    if key not in _GRIDS:
        try:
            default = factors.factor("fr-continental", 2100, "latest").g_per_kwh
        except FactorError:
            default = None
        if len(_GRIDS) >= 8:
            _GRIDS.clear()
        _GRIDS[key] = grid_from_settings(settings, config.agent.data_dir, default)
    return _GRIDS[key]


_GRIDS: dict[tuple[Any, ...], Any] = {}


def step_s(text: str | None) -> int:
    from sentinelle.carbon.history.timeparse import parse_duration_s

    return parse_duration_s(text) if text else 0


def output_lang(args: argparse.Namespace, config: Any) -> str:
    """`--lang`, else `agent.lang` of the file (French by default), as every command."""
    return getattr(args, "lang", None) or config.agent.lang
