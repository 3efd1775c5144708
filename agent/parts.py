"""The composition root: the one place the agent names the collectors and carbon/.

Every other agent module knows the parts only through these tuples of module names, imported
on use with `installed_parts` (a build without a part simply lacks it):

- `SETTINGS`: modules with `SETTINGS_PART`, their sections of the configuration file
  (composed by `agent.config.compose_models`);
- `CONFIG_CHECKS`: modules with `config_problems(config) -> Iterable[ConfigProblem]`, the
  rules no single model can see (a profile name against the catalogue, a meter `parent`
  against the other meters, TLS files that must load). `parse_config` runs them all, so
  `check` and `run` refuse the same files: a rule a collector needs at start-up goes here,
  never only in the collector's build step;
- `COLLECTORS`: modules with `COLLECTOR` (see `agent.core.Collector`);
- `PROCESSORS`: modules with `build_processors(config, state_dir)`, steps between the
  collectors and the spool (carbon/ computes energy and emissions there);
- `EXTENSIONS`: modules with `add_parser(subparsers)`, the subcommands other parts add.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sentinelle.agent.configtypes import SettingsPart

SETTINGS = ("sentinelle.collectors.snmp.settings", "sentinelle.collectors.mqtt.settings", "sentinelle.carbon.settings")

CONFIG_CHECKS = ("sentinelle.collectors.snmp.configcheck", "sentinelle.collectors.mqtt.configcheck", "sentinelle.carbon.configcheck")

COLLECTORS = ("sentinelle.collectors.snmp.collector", "sentinelle.collectors.mqtt.collector")

PROCESSORS = ("sentinelle.carbon.processor",)

EXTENSIONS = ("sentinelle.collectors.snmp.cli", "sentinelle.carbon.commands.report", "sentinelle.carbon.commands.imports",
              "sentinelle.carbon.commands.recompute", "sentinelle.carbon.commands.factors",
              "sentinelle.carbon.commands.inventory")


def installed_parts(module_names: Iterable[str]) -> Iterator[Any]:
    """Import each registered part (config checks, CLI extensions), skipping a part this build
    does not install; an import error inside an installed part is raised, not hidden."""
    for module_name in module_names:
        try:
            yield importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name or module_name.startswith(str(exc.name) + "."):
                continue
            raise


@functools.cache
def settings_parts() -> tuple[SettingsPart, ...]:
    """The installed parts' settings, in `SETTINGS` order."""
    return tuple(module.SETTINGS_PART for module in installed_parts(SETTINGS))


def registered_collectors() -> list[Any]:
    """The installed collectors, in `COLLECTORS` order (a part this build lacks is skipped)."""
    return [module.COLLECTOR for module in installed_parts(COLLECTORS)]


def build_processors(config: Any, state_dir: Path) -> list[Any]:
    """Every installed part's processors for this configuration, in `PROCESSORS` order."""
    return [processor for module in installed_parts(PROCESSORS) for processor in module.build_processors(config, state_dir)]
