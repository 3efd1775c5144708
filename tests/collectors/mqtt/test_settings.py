"""The `mqtt:` config section and `lora:` inventory bindings: what is accepted, what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinelle.agent.config import ConfigError, parse_config

SAMPLE = Path(__file__).resolve().parents[3] / "collectors" / "mqtt" / "sample.yaml"


def test_sample_yaml_is_a_valid_config(tmp_path, monkeypatch):
    monkeypatch.setenv("TTS_API_KEY", "NNSXS.secret-api-key")
    password = tmp_path / "mqtt.password"
    password.write_text("broker-password\n")
    # The TLS files a config names are loaded when it is validated (so `check` refuses what
    # `run` would): the sample's CA path stands for a real CA bundle.
    import certifi

    text = SAMPLE.read_text().replace("/etc/sentinelle/mqtt.password", str(password))
    text = text.replace("/etc/sentinelle/lns-ca.pem", certifi.where())
    config = parse_config(text)
    chirpstack, tts, generic = config.mqtt
    assert (chirpstack.host, chirpstack.port, chirpstack.tls_enabled) == ("lns.example.fr", 8883, True)
    assert chirpstack.protocol == "5" and chirpstack.session_expiry == 3600.0 and chirpstack.shared_group == "sentinelle"
    assert chirpstack.password.get_secret_value() == "broker-password"
    assert chirpstack.session_persistent and not tts.session_persistent
    assert generic.subscriptions[0].mapping.fields["energy_kwh_total"].scale == 0.001
    meter = config.inventory.sites[0].devices[1]
    assert meter.lora.dev_eui == "70b3d57ed0001a03" and meter.lora.power_w.path == "activePowerW"
    assert {"NNSXS.secret-api-key", "broker-password"} <= set(config.secrets())  # redacted from logs


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{url: 'http://x', topics: [a]}", "expected mqtt://"),
        ("{url: 'mqtt://x'}", "at least one entry"),
        ("{url: 'mqtt://x', subscriptions: [{topic: a/b, format: generic-json}]}", "needs a 'mapping'"),
        ("{url: 'mqtt://x', subscriptions: [{topic: '$share/g/a'}]}", "shared_group"),
        ("{url: 'mqtt://x', subscriptions: [{topic: 'a/{Bad Name}/b'}]}", "named segment"),
        ("{url: 'mqtt://x', subscriptions: [{topic: 'a/#/b'}]}", "'#' must be"),
        ("{url: 'mqtt://x', topics: [a], tls: {cert: /c.pem}}", "both 'cert' and 'key'"),
        ("{url: 'mqtt://x', topics: [a], protocol: 4}", "protocol"),
        ("{url: 'mqtt://x', topics: [a], qos: 2}", "qos"),
    ],
)
def test_bad_broker_entries_are_refused_with_a_reason(entry, message):
    with pytest.raises(ConfigError) as err:
        parse_config(f"mqtt:\n  - {entry}\n")
    assert message in str(err.value)


def test_lora_binding_rules():
    with pytest.raises(ConfigError) as err:
        parse_config("inventory: {sites: [{id: s, devices: [{id: d, lora: {gateway_id: g1, power_w: p}}]}]}")
    assert "dev_eui" in str(err.value)
    with pytest.raises(ConfigError):
        parse_config("inventory: {sites: [{id: s, devices: [{id: d, lora: {dev_eui: 'not-an-eui'}}]}]}")


def test_password_is_not_in_the_config_error_or_repr():
    with pytest.raises(ConfigError) as err:
        parse_config("mqtt:\n  - {url: 'mqtt://x', password: hunter2-secret, qos: 5, topics: [a]}\n")
    assert "hunter2-secret" not in str(err.value)
