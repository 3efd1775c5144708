"""Rules of the shared validation that the broken-config corpus does not show one by one:
what is accepted (so the rules are not too strict), and the data directory rule."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from sentinelle.agent.config import ConfigError, default_data_dir, load_config, parse_config
from sentinelle.agent.parts import CONFIG_CHECKS

DEVICE = "inventory:\n  sites:\n    - id: s\n      devices:\n        - id: d\n          snmp: {SNMP}\n"


def device(snmp: str) -> str:
    return DEVICE.replace("{SNMP}", snmp)


@pytest.mark.parametrize("host", ["10.0.0.5", "ups-1.nro.example.fr", "ups1", "::1", "[::1]", "fe80::1", "pdu_a.lan"])
def test_valid_hosts_are_accepted(host: str) -> None:
    cfg = parse_config(device(f"{{host: '{host}'}}"))
    assert cfg.inventory.sites[0].devices[0].snmp.host == host.strip("[]")


@pytest.mark.parametrize("host", ["10.0.0.300", "10.0.0", "ups 1", "-ups", "ups..lan", "::zz"])
def test_invalid_hosts_are_refused(host: str) -> None:
    with pytest.raises(ConfigError, match="snmp.host"):
        parse_config(device(f"{{host: '{host}'}}"))


def test_snmpv3_without_keys_only_when_said_explicitly() -> None:
    cfg = parse_config(device("{host: 10.0.0.5, version: 3, user: noc, security_level: noAuthNoPriv}"))
    assert cfg.inventory.sites[0].devices[0].snmp.security_level == "noAuthNoPriv"
    with pytest.raises(ConfigError, match="security_level is authPriv but the keys given make it authNoPriv"):
        parse_config(device("{host: h, version: 3, user: noc, security_level: authPriv, auth_protocol: sha, auth_key: abcdefgh1}"))
    full = parse_config(device("{host: h, version: 3, user: noc, auth_protocol: sha, auth_key: abcdefgh1, "
                               "priv_protocol: aes, priv_key: abcdefgh2}"))
    assert full.inventory.sites[0].devices[0].snmp.security_level == "authPriv"


def test_every_semantic_problem_is_listed_with_its_own_line() -> None:
    text = ("inventory:\n  sites:\n    - id: s\n      devices:\n"
            "        - {id: a, snmp: {host: h}, profile: nope-1}\n"
            "        - {id: b, snmp: {host: h}, profiles: [ups-mib, nope-2]}\n"
            "        - {id: a, snmp: {host: h}}\n")
    with pytest.raises(ConfigError) as info:
        parse_config(text, "f.yaml")
    problems = info.value.problems
    assert any(p.startswith("f.yaml:7: inventory.sites[0].devices[2].id: device id 'a' is used twice") for p in problems), problems
    assert any(p.startswith("f.yaml:5: inventory.sites[0].devices[0].profiles[0]: unknown SNMP profile 'nope-1'") for p in problems)
    assert any(p.startswith("f.yaml:6: inventory.sites[0].devices[1].profiles[1]: unknown SNMP profile 'nope-2'") for p in problems)


def test_registered_checks_are_importable() -> None:
    for name in CONFIG_CHECKS:
        assert callable(importlib.import_module(name).config_problems), name


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeff".encode() + device("{host: 10.0.0.5}").encode())
    assert load_config(path).inventory.sites[0].id == "s"


def test_unknown_key_lists_the_accepted_ones() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(device("{host: h, zzz: 1}"))
    assert "accepted keys here are host, port, version, community, community_file" in str(info.value)


def test_read_only_loading_skips_unset_variables_and_secret_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENTINELLE_TEST_NOPE", raising=False)
    text = device("{host: h, community: '${SENTINELLE_TEST_NOPE}'}") + (
        "sinks:\n  - {type: influxdb2, url: http://i:8086, org: o, bucket: b, token_file: /nonexistent/token}\n")
    with pytest.raises(ConfigError, match="SENTINELLE_TEST_NOPE is not set"):
        parse_config(text)
    cfg = parse_config(text, read_secrets=False)
    assert cfg.sinks[0].type == "influxdb2"
    with pytest.raises(ConfigError, match="unknown key"):  # every other rule still applies
        parse_config(text + "spool: {size: 1}\n", read_secrets=False)


def test_data_dir_rule(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SENTINELLE_DATA_DIR", raising=False)
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/sentinelle:/var/lib/other")
    assert default_data_dir() == Path("/var/lib/sentinelle")
    monkeypatch.delenv("STATE_DIRECTORY")
    monkeypatch.setattr("os.geteuid", lambda: 0)
    assert default_data_dir() == Path("/var/lib/sentinelle")  # root's shell and the service agree
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_data_dir() == tmp_path / "state" / "sentinelle"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_data_dir() == Path.home() / ".local" / "state" / "sentinelle"
    monkeypatch.setenv("SENTINELLE_DATA_DIR", str(tmp_path / "explicit"))
    assert default_data_dir() == tmp_path / "explicit"
    cfg = parse_config(f"agent: {{data_dir: {tmp_path / 'set'}}}\n" + device("{host: h}"))
    assert cfg.agent.data_dir == tmp_path / "set"  # an explicit setting wins


def test_lang_setting() -> None:
    assert parse_config(device("{host: h}")).agent.lang == "fr"
    assert parse_config("agent: {lang: en}\n" + device("{host: h}")).agent.lang == "en"
    with pytest.raises(ConfigError, match="accepted values are fr or en"):
        parse_config("agent: {lang: de}\n" + device("{host: h}"))
