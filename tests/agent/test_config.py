"""Configuration: valid files load, invalid ones name the file, line, key and reason, and never
echo a secret."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sentinelle.agent.config import ConfigError, load_config, parse_config

GOOD = """
agent: {name: nro-lannion-01, interval: 60s, jitter: 5s, concurrency: 50}
inventory:
  sites:
    - id: nro-lannion
      kind: nro
      member: lannion-tregor-communaute
      contract: dsp-rip-22
      operator: example-delegataire
      devices:
        - {id: ups-1, kind: ups, snmp: {host: 10.0.0.5, version: 3, user: noc, auth_protocol: sha, auth_key_file: KEYFILE, priv_protocol: aes, priv_key: ${PRIV_KEY}}, profile: ups-mib}
        - {id: pdu-a, kind: pdu, snmp: {host: 10.0.0.6, community: ${PDU_COMMUNITY}}, profile: apc-rpdu2, meter: it}
sinks:
  - {type: influxdb2, url: https://influx.example, org: syndicat, bucket: sentinelle, token_file: TOKENFILE}
spool: {max_bytes: 2GiB}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sentinelle.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"auth": "auth-secret-1234", "priv": "priv-secret-5678", "community": "pdu-comm-s3cret", "token": "tok-abcdef-0123456789"}
    (tmp_path / "auth.key").write_text(values["auth"] + "\n")
    (tmp_path / "token").write_text(values["token"] + "\n")
    monkeypatch.setenv("PRIV_KEY", values["priv"])
    monkeypatch.setenv("PDU_COMMUNITY", values["community"])
    return values


def good_text(tmp_path: Path) -> str:
    return GOOD.replace("KEYFILE", str(tmp_path / "auth.key")).replace("TOKENFILE", str(tmp_path / "token"))


def test_design_example_loads_with_secrets_from_files_and_env(tmp_path: Path, secrets: dict[str, str]) -> None:
    cfg = load_config(write(tmp_path, good_text(tmp_path)))
    ups = cfg.inventory.sites[0].devices[0]
    assert cfg.agent.interval == 60.0 and cfg.agent.jitter == 5.0
    assert ups.snmp is not None and ups.snmp.auth_key is not None
    assert ups.snmp.auth_key.get_secret_value() == secrets["auth"]  # trailing newline stripped
    assert ups.snmp.priv_key is not None and ups.snmp.priv_key.get_secret_value() == secrets["priv"]
    assert ups.profiles == ["ups-mib"]
    assert cfg.inventory.sites[0].devices[1].meter is not None and cfg.inventory.sites[0].devices[1].meter.load == "it"
    assert int(cfg.spool.max_bytes) == 2 * 1024**3
    assert set(cfg.secrets()) >= set(secrets.values())
    # Secrets are masked in every representation pydantic produces.
    dumped = repr(cfg) + str(cfg.model_dump()) + cfg.model_dump_json()
    for value in secrets.values():
        assert value not in dumped


def test_no_sink_means_embedded_local_store(tmp_path: Path) -> None:
    cfg = parse_config(f"agent: {{data_dir: {tmp_path}}}\ninventory: {{sites: [{{id: s, devices: [{{id: d}}]}}]}}\n")
    sinks = cfg.effective_sinks()
    assert [s.type for s in sinks] == ["local"]
    assert cfg.local_store_path() == tmp_path / "local.db"
    assert cfg.spool_path() == tmp_path / "spool.db"


@pytest.mark.parametrize(
    ("text", "line", "key", "reason"),
    [
        ("agent:\n  name: a\n  intervall: 60s\n", 3, "agent.intervall", "unknown key"),
        ("agent:\n  interval: 5 minutes\n", 2, "agent.interval", "invalid duration"),
        ("agent:\n  concurrency: lots\n", 2, "agent.concurrency", "valid integer"),
        (
            "inventory:\n  sites:\n    - id: s1\n      devices:\n        - id: d1\n          snmp: {host: h, version: 4}\n",
            6, "inventory.sites[0].devices[0].snmp.version", "1, 2 or 3",
        ),
        (
            "inventory:\n  sites:\n    - id: s1\n      devices:\n        - id: d1\n          snmp:\n            host: h\n            version: 3\n            user: u\n            auth_protocol: sha\n            auth_key_file: /nonexistent/key\n",
            6, "inventory.sites[0].devices[0].snmp", "does not exist",
        ),
        ("sinks:\n  - type: influxdb2\n    url: http://x\n    org: o\n    bucket: b\n", 2, "sinks[0].token", "required key is missing"),
        ("sinks:\n  - type: influxdb9\n    url: http://x\n", 2, "sinks[0]", "type"),
        ("spool:\n  max_bytes: huge\n", 2, "spool.max_bytes", "byte"),
        ("agent:\n  shard: {index: 3, count: 2}\n", 2, "agent.shard", "smaller than count"),
        ("agent: [1, 2\n", 2, "", "not valid YAML"),
    ],
)
def test_invalid_configs_name_file_line_key_and_reason(tmp_path: Path, text: str, line: int, key: str, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert f"{path}:{line}" in message, message
    assert key in message, message
    assert reason.lower() in message.lower(), message


def test_unset_environment_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENTINELLE_TEST_UNSET", raising=False)
    path = write(tmp_path, "sinks:\n  - type: influxdb1\n    url: ${SENTINELLE_TEST_UNSET}\n    database: x\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}:3: sinks[0].url: environment variable SENTINELLE_TEST_UNSET is not set" in str(info.value)


def test_duplicate_device_ids_rejected() -> None:
    text = "inventory:\n  sites:\n    - {id: a, devices: [{id: d}]}\n    - {id: b, devices: [{id: d}]}\n"
    with pytest.raises(ConfigError, match="device id 'd' is used twice"):
        parse_config(text)


def test_short_secret_errors_do_not_echo_the_secret(tmp_path: Path) -> None:
    text = "inventory:\n  sites:\n    - id: s\n      devices:\n        - id: d\n          snmp: {host: h, version: 3, user: u, auth_protocol: sha, auth_key: tiny77}\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert "at least 8 characters" in str(info.value)
    assert "tiny77" not in str(info.value)


def test_cli_check_exits_2_and_never_prints_secrets(tmp_path: Path, secrets: dict[str, str]) -> None:
    bad = good_text(tmp_path).replace("concurrency: 50", "concurrency: 50, colour: blue")
    path = write(tmp_path, bad)
    env_args = {"PRIV_KEY": secrets["priv"], "PDU_COMMUNITY": secrets["community"]}
    import os

    proc = subprocess.run(
        [sys.executable, "-m", "sentinelle.agent.cli", "check", "-c", str(path)],
        capture_output=True, text=True, timeout=60, env={**os.environ, **env_args},
    )
    assert proc.returncode == 2, proc.stderr
    assert "agent.colour: unknown key" in proc.stderr
    assert f"{path}:2" in proc.stderr
    for value in secrets.values():
        assert value not in proc.stdout + proc.stderr
