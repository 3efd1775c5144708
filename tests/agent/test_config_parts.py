"""Each part owns its settings: the composed models, and the agent naming no part but in its
composition root (`agent/parts.py`, with the CLI, the runtime and the demo)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentinelle.agent import config as cfg
from sentinelle.agent import parts
from sentinelle.agent.config import AgentConfig, ConfigError, DeviceSettings, SiteSettings, parse_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSITION_ROOT = {"agent/parts.py", "agent/cli.py", "agent/runtime.py", "agent/demo.py"}

MINIMAL = """
inventory:
  sites:
    - id: s
      devices:
        - id: pdu-1
          snmp: {host: 127.0.0.1}
"""


def imported_modules(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_no_agent_module_but_the_composition_root_imports_a_collector_or_carbon() -> None:
    offenders = []
    for path in sorted((ROOT / "agent").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in COMPOSITION_ROOT:
            continue
        for name in imported_modules(path):
            if name.startswith(("sentinelle.collectors", "sentinelle.carbon")):
                offenders.append(f"{rel}: {name}")
    assert not offenders, offenders


def test_the_composed_models_keep_the_file_order_of_keys() -> None:
    assert list(AgentConfig.model_fields) == ["agent", "snmp", "inventory", "mqtt", "carbon", "sinks", "spool"]
    assert list(SiteSettings.model_fields) == [
        "id", "kind", "name", "member", "contract", "operator", "zone", "tags", "devices", "allocation"]
    assert list(DeviceSettings.model_fields) == [
        "id", "kind", "snmp", "profiles", "interval", "meter", "tags", "lora", "overrides"]


def test_a_build_without_a_part_has_no_section_of_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parts, "SETTINGS", ("sentinelle.collectors.snmp.settings", "sentinelle.collectors.not_installed"))
    # Composed apart: the cached models the other tests use stay the ones of the whole build.
    models = cfg.compose_models(parts.settings_parts.__wrapped__())
    assert list(models["AgentConfig"].model_fields) == ["agent", "snmp", "inventory", "sinks", "spool"]
    assert "lora" not in models["DeviceSettings"].model_fields and "meter" not in models["DeviceSettings"].model_fields
    assert list(models["DeviceSettings"].model_fields)[-1] == "overrides"  # its `after: lora` is absent
    with pytest.raises(ValueError, match="nothing to collect"):
        models["AgentConfig"].model_validate({})


@pytest.mark.parametrize("value, kind", [("[a.key, b.key]", "a list"), ("12", "a number"), ("", "nothing")])
@pytest.mark.parametrize("read_secrets", [True, False])
def test_a_secret_file_key_that_is_not_a_path_names_its_own_line(value: str, kind: str, read_secrets: bool) -> None:
    text = MINIMAL + f"""sinks:
  - type: influxdb2
    url: https://influx.example
    org: o
    bucket: b
    token_file: {value}
"""
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.yaml", read_secrets=read_secrets)
    assert err.value.problems == [
        f"c.yaml:13: sinks[0].token_file: must be the path of a file holding the secret (got {kind})"]
