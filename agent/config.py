"""The agent's one YAML file: loading, composing the parts' sections, and errors a technician
can act on.

`load_config(path)` returns a validated `AgentConfig` or raises `ConfigError`, whose message
lists every problem as `FILE:LINE: key.path[0].sub: reason`. Secret values never appear in it.
The agent declares its own sections here (`agent:`, `spool:`, the identity keys of sites and
devices) and `agent/sinks/settings.py` the `sinks:`; each collector and carbon/ declares its
own in its `settings.py`, registered in `agent/parts.py` and composed by `compose_models`.
"""

from __future__ import annotations

import functools
import os
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import yaml
from pydantic import (
    ByteSize,
    Field,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from sentinelle.agent.configtypes import (
    IDENT,
    ConfigProblem,
    Duration,
    Ident,
    SecretFileKeyError,
    SettingsField,
    SettingsPart,
    StrictModel,
    compose_fields,
)
from sentinelle.agent.sinks.settings import (
    FileSinkSettings,
    InfluxDB1SinkSettings,
    InfluxDB2SinkSettings,
    LocalSinkSettings,
    SinkSettings,
    sink_name,
)

if TYPE_CHECKING:
    AgentConfig = Any  # the composed model (`composed_models`), known only at run time

__all__ = [
    "IDENT", "AgentConfigBase", "AgentSettings", "ConfigError", "ConfigProblem", "FileSinkSettings",
    "HttpSettings", "InfluxDB1SinkSettings", "InfluxDB2SinkSettings", "LocalSinkSettings", "LogSettings",
    "ShardSettings", "SinkSettings", "SpoolSettings", "composed_models", "load_config", "parse_config", "sink_name",
]

SECRET_KEY_HINTS = ("key", "token", "password", "community", "secret", "passphrase")


SYSTEM_DATA_DIR = Path("/var/lib/sentinelle")


def default_data_dir() -> Path:
    """Where the spool and the local store live when `agent.data_dir` is not set.

    One rule, so the service and a shell agree: `$SENTINELLE_DATA_DIR`, else
    `$STATE_DIRECTORY` (systemd `StateDirectory=sentinelle`, i.e. /var/lib/sentinelle), else
    /var/lib/sentinelle for root, else the user's XDG state directory
    (`$XDG_STATE_HOME/sentinelle`, by default ~/.local/state/sentinelle). Never the current
    directory: `spool stats` run from another folder must find the same spool.
    """
    for var in ("SENTINELLE_DATA_DIR", "STATE_DIRECTORY"):
        if os.environ.get(var):
            return Path(os.environ[var].split(":")[0])
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return SYSTEM_DATA_DIR
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "sentinelle"


# --- agent ----------------------------------------------------------------------------------


class ShardSettings(StrictModel):
    """Split one inventory across `count` agents; this agent polls devices whose stable hash
    modulo `count` is `index`."""

    index: int = Field(ge=0)
    count: int = Field(ge=1)

    @model_validator(mode="after")
    def _index_below_count(self) -> ShardSettings:
        if self.index >= self.count:
            raise ValueError(f"index {self.index} must be smaller than count {self.count}")
        return self


class LogSettings(StrictModel):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"
    # The same problem on the same device is logged at most once per this window.
    rate_limit: Duration = 300.0


class HttpSettings(StrictModel):
    enabled: bool = True
    listen: str = "127.0.0.1:9273"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:9273")
        return v

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]") or "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class AgentSettings(StrictModel):
    name: str = Field(default_factory=socket.gethostname)
    interval: Duration = 60.0
    jitter: Duration = 5.0
    concurrency: int = Field(default=50, ge=1, le=1000)
    # Hard limit on one device's poll; default: 80 % of its interval.
    deadline: Duration | None = None
    data_dir: Path = Field(default_factory=default_data_dir)
    shard: ShardSettings | None = None
    log: LogSettings = Field(default_factory=LogSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    # How often the agent's own counters are written as `agent_internal` points.
    internal_interval: Duration = 60.0
    # Language of the command-line summaries (and, by default, of reports and the demo).
    lang: Literal["fr", "en"] = "fr"

    @field_validator("interval")
    @classmethod
    def _positive_interval(cls, v: float) -> float:
        if v < 1.0:
            raise ValueError("interval must be at least 1s")
        return v


# --- inventory ------------------------------------------------------------------------------

# The agent's own keys of a device and of a site; the parts add theirs (`SettingsPart`).
DEVICE_FIELDS = {
    "id": SettingsField(Ident, ...),
    "kind": SettingsField(str, "generic"),
    "interval": SettingsField(Duration | None, None),
    "tags": SettingsField(dict[str, str], Field(default_factory=dict)),
}

SITE_FIELDS = {
    "id": SettingsField(Ident, ...),
    "kind": SettingsField(str, "site"),
    "name": SettingsField(str | None, None),
    "member": SettingsField(str | None, None),
    "contract": SettingsField(str | None, None),
    "operator": SettingsField(str | None, None),
    "tags": SettingsField(dict[str, str], Field(default_factory=dict)),
}


# --- sinks and spool ------------------------------------------------------------------------


class SpoolSettings(StrictModel):
    path: Path | None = None
    max_bytes: ByteSize = ByteSize(1024**3)
    # `full` survives a power cut (fsync per commit); `normal` survives a crash of the process.
    sync: Literal["full", "normal"] = "full"
    # measurement (or fnmatch pattern, e.g. `pdu*`) -> priority, higher is kept longer when the
    # spool is full. Defaults: interface/pon/ont 10, agent_internal 20, others 50, energy/carbon/event 90.
    priorities: dict[str, int] = Field(default_factory=dict)
    # Lines a sink rejected are kept for inspection and replay, at most this many per sink.
    max_dead_letters: int = Field(default=100_000, ge=0)


# --- the whole file -------------------------------------------------------------------------


class AgentConfigBase(StrictModel):
    """What every composed `AgentConfig` has whatever parts are installed: the agent's own
    sections' helpers and the rule that there must be something to collect."""

    # Set on the composed model: each part's "something to collect without devices" test.
    collect_tests: ClassVar[tuple[Callable[[Any], bool], ...]] = ()

    @model_validator(mode="after")
    def _something_to_collect(self) -> AgentConfigBase:
        # An agent with nothing to read would run forever and write only its own counters:
        # refuse it here so `check` and `run` both say so before systemd restarts it in a loop.
        collects = any(test(self) for test in type(self).collect_tests)
        if not collects and not any(site.devices for site in self.inventory.sites):  # type: ignore[attr-defined]
            raise ValueError("no device and no MQTT source: nothing to collect (add inventory devices or an mqtt: broker)")
        return self

    def effective_sinks(self) -> list[SinkSettings]:
        """The configured sinks, or the embedded local store when none is configured."""
        sinks = self.sinks  # type: ignore[attr-defined]
        return list(sinks) if sinks else [LocalSinkSettings(type="local")]

    def spool_path(self) -> Path:
        return self.spool.path or self.agent.data_dir / "spool.db"  # type: ignore[attr-defined]

    def local_store_path(self, sink: LocalSinkSettings | None = None) -> Path:
        if sink is not None and sink.path is not None:
            return sink.path
        return self.agent.data_dir / "local.db"  # type: ignore[attr-defined]

    def secrets(self) -> list[str]:
        """Every secret value in this config, for log redaction."""
        found: list[str] = []

        def walk(obj: Any) -> None:
            if isinstance(obj, SecretStr):
                value = obj.get_secret_value()
                if value:
                    found.append(value)
            elif isinstance(obj, StrictModel):
                for name in type(obj).model_fields:
                    walk(getattr(obj, name))
            elif isinstance(obj, list | tuple):
                for item in obj:
                    walk(item)
            elif isinstance(obj, dict):
                for item in obj.values():
                    walk(item)

        walk(self)
        return found


def compose_models(parts: Sequence[SettingsPart]) -> dict[str, type[StrictModel]]:
    """`DeviceSettings`, `SiteSettings`, `InventorySettings` and the root `AgentConfig`: the
    agent's own keys with each part's keys in their places, and the parts' validators."""

    def merged(attr: str) -> dict[str, Any]:
        return {name: validator for part in parts for name, validator in getattr(part, attr).items()}

    def added(attr: str) -> list[tuple[str, SettingsField]]:
        return [item for part in parts for item in getattr(part, attr).items()]

    device = create_model("DeviceSettings", __base__=StrictModel, __module__=__name__,
                          __validators__=merged("device_validators"),
                          **compose_fields(DEVICE_FIELDS, added("device_fields")))
    site_own = {**SITE_FIELDS, "devices": SettingsField(list[device], Field(default_factory=list))}  # type: ignore[valid-type]
    site = create_model("SiteSettings", __base__=StrictModel, __module__=__name__,
                        __validators__=merged("site_validators"), **compose_fields(site_own, added("site_fields")))
    # Unique site and device ids are checked by `inventory_problems` (it names the duplicate's
    # own line, which a model validator cannot).
    inventory = create_model("InventorySettings", __base__=StrictModel, __module__=__name__,
                             sites=(list[site], Field(default_factory=list)))  # type: ignore[valid-type]
    root_own = {
        "agent": SettingsField(AgentSettings, Field(default_factory=AgentSettings)),
        "inventory": SettingsField(inventory, Field(default_factory=inventory)),
        "sinks": SettingsField(list[SinkSettings], Field(default_factory=list)),
        "spool": SettingsField(SpoolSettings, Field(default_factory=SpoolSettings)),
    }
    root = create_model("AgentConfig", __base__=AgentConfigBase, __module__=__name__,
                        **compose_fields(root_own, added("sections")))
    root.collect_tests = tuple(part.collects for part in parts if part.collects is not None)
    return {"DeviceSettings": device, "SiteSettings": site, "InventorySettings": inventory, "AgentConfig": root}


@functools.cache
def composed_models() -> dict[str, type[StrictModel]]:
    """The models for the parts this build installs (`agent.parts.SETTINGS`), built once."""
    from sentinelle.agent import parts  # the composition root names the parts

    return compose_models(parts.settings_parts())


def __getattr__(name: str) -> Any:
    # `from sentinelle.agent.config import AgentConfig` (and the inventory models) gives the
    # composed model; it is built on first use, once every part's settings can be imported.
    if name in ("AgentConfig", "InventorySettings", "SiteSettings", "DeviceSettings"):
        return composed_models()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def key_aliases() -> dict[str, str]:
    """Keys a model accepts under a short name: the line is the short key's when only it is written."""
    from sentinelle.agent import parts

    return {long: short for part in parts.settings_parts() for long, short in part.key_aliases.items()}


def pattern_words() -> dict[str, str]:
    """The parts' `pattern=` regexes said in words."""
    from sentinelle.agent import parts

    return {pattern: words for part in parts.settings_parts() for pattern, words in part.pattern_words.items()}


# --- checks beyond one model ---------------------------------------------------------------


def inventory_problems(config: AgentConfig) -> Iterable[ConfigProblem]:
    """Ids used twice (sites, devices, sink names), each at its own line."""
    seen_sites: dict[str, int] = {}
    seen_devices: dict[str, str] = {}
    for si, site in enumerate(config.inventory.sites):
        if site.id in seen_sites:
            yield ("inventory", "sites", si, "id"), f"site id {site.id!r} is used twice (also sites[{seen_sites[site.id]}])"
        seen_sites.setdefault(site.id, si)
        for di, dev in enumerate(site.devices):
            where = ("inventory", "sites", si, "devices", di)
            if dev.id in seen_devices:
                yield (*where, "id"), f"device id {dev.id!r} is used twice (sites {seen_devices[dev.id]!r} and {site.id!r})"
            seen_devices.setdefault(dev.id, site.id)
    names: set[str] = set()
    for i, sink in enumerate(config.sinks):
        name = sink_name(sink, i)
        if name in names:
            yield ("sinks", i, "name" if sink.name else "type"), f"two sinks are named {name!r}: give each a distinct 'name'"
        names.add(name)


def semantic_problems(config: AgentConfig) -> list[ConfigProblem]:
    """Every problem `inventory_problems` and the parts' checks (`agent.parts.CONFIG_CHECKS`)
    find. `parse_config` runs them all, so `check` and `run` refuse the same files."""
    from sentinelle.agent import parts

    problems = list(inventory_problems(config))
    for module in parts.installed_parts(parts.CONFIG_CHECKS):
        problems.extend(module.config_problems(config))
    return problems


# --- loading --------------------------------------------------------------------------------


class ConfigError(Exception):
    """A configuration that cannot be used. `str()` is the message to show the user."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__("\n".join(problems))



_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _key_lines(
    node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int], dupes: list[tuple[tuple[Any, ...], str]]
) -> None:
    """Line of every key path; a key written twice in one mapping is recorded in `dupes`
    (PyYAML silently keeps the last one, which hides half of a config)."""
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        first: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # a list or mapping used as a key: the models refuse it with its line
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in first:
                dupes.append(((*path, key), f"key {key!r} is written twice in this mapping (first at line {first[key]}): "
                              "the second would silently replace the first"))
                out[(*path, key, "#dup")] = line
                continue
            first[key] = line
            out[(*path, key)] = line
            _key_lines(value_node, (*path, key), out, dupes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _key_lines(item, (*path, i), out, dupes)


_PLACEHOLDER = re.compile(r"SENTINELLE_ENV_REF_(\d+)_")


def _protect_env_refs(text: str) -> tuple[str, list[tuple[str, str | None]]]:
    """Swap `${VAR}` for plain placeholders *before* YAML parsing.

    `${...}` is not valid inside a YAML flow mapping (`{community: ${X}}`), yet that is how
    people write it. The placeholder is a plain word on the same line, so YAML parses and
    line numbers stay right; `_interpolate` puts the values in after parsing, so a value
    with YAML-special characters (`: `, `#`) cannot change the document's structure.
    """
    refs: list[tuple[str, str | None]] = []

    def sub(match: re.Match[str]) -> str:
        refs.append((match.group(1), match.group(2)))
        return f"SENTINELLE_ENV_REF_{len(refs) - 1}_"

    return _ENV_REF.sub(sub, text), refs


def _interpolate(
    data: Any, refs: list[tuple[str, str | None]], path: tuple[Any, ...], problems: list[tuple[tuple[Any, ...], str]],
    strict: bool = True,
) -> Any:
    """Replace placeholders with `$VAR` (or the `:-default`); an unset VAR is an error unless
    `strict` is False (read-only commands that do not use the value)."""
    if isinstance(data, dict):
        return {k: _interpolate(v, refs, (*path, k), problems, strict) for k, v in data.items()}
    if isinstance(data, list):
        return [_interpolate(v, refs, (*path, i), problems, strict) for i, v in enumerate(data)]
    if isinstance(data, str) and "SENTINELLE_ENV_REF_" in data:

        def sub(match: re.Match[str]) -> str:
            name, default = refs[int(match.group(1))]
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            if strict:
                problems.append((path, f"environment variable {name} is not set"))
            return ""

        return _PLACEHOLDER.sub(sub, data)
    return data


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The part of a pydantic error location that exists in the YAML data.

    Pydantic inserts union tags (e.g. `influxdb2`) and validator names into locations; they
    are not keys the user wrote, so they are dropped for the message and the line lookup.
    """
    out: list[Any] = []
    cur = data
    for part in loc:
        if isinstance(cur, dict) and part in cur:
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, dict) and isinstance(part, str) and not part.startswith(("function-", "tagged-")):
            # A missing or unknown key: name it, but stop walking.
            if part not in ("influxdb2", "influxdb1", "local", "file"):
                out.append(part)
                break
    return tuple(out)


def _is_secret_key(key: Any) -> bool:
    return isinstance(key, str) and any(h in key.lower() for h in SECRET_KEY_HINTS)


def _yaml_reason(exc: yaml.YAMLError) -> str:
    reason = str(getattr(exc, "problem", None) or exc)
    mark = getattr(exc, "problem_mark", None)
    if "'\\t'" in reason or "\t" in reason:
        reason = "a tab character: YAML indentation must use spaces, not tabs"
    elif "mapping values are not allowed" in reason:
        reason = "unexpected ':' here (check the indentation of this line and the one above, or quote a value containing ': ')"
    elif "could not find expected ':'" in reason:
        reason = "a key without ':' (or a line indented differently from its neighbours)"
    if mark is not None:
        reason += f" (column {mark.column + 1})"
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if context and context_mark is not None and mark is not None and context_mark.line != mark.line:
        reason += f"; {context} at line {context_mark.line + 1}"
    return f"not valid YAML: {reason}"


def parse_config(text: str, path: str = "<config>", *, read_secrets: bool = True) -> AgentConfig:
    """Validate YAML text; raise `ConfigError` naming the file, line, key path and reason.

    `read_secrets=False` is for read-only commands (`spool stats`): an unset `${VAR}` or an
    unreadable `*_file` secret is then not an error, every other rule still applies.
    """
    text, refs = _protect_env_refs(text)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        raise ConfigError(path, [f"{where}: {_yaml_reason(exc)}"]) from None
    if data is None:
        raise ConfigError(path, [f"{path}:1: (top level): the file is empty: a configuration needs at least "
                                 "'inventory:' or 'mqtt:' (see deploy/examples/)"])
    if not isinstance(data, dict):
        raise ConfigError(path, [f"{path}:1: (top level): the top level must be a mapping of sections "
                                 "(agent:, inventory:, mqtt:, sinks:, ...), not a {kind}".format(
                                     kind="list" if isinstance(data, list) else "single value")])
    aliases = key_aliases()
    lines: dict[tuple[Any, ...], int] = {}
    dupes: list[tuple[tuple[Any, ...], str]] = []
    if node is not None:
        _key_lines(node, (), lines, dupes)

    def where(p: tuple[Any, ...], own_line: bool = False) -> str:
        if own_line and (*p, "#dup") in lines:
            return f"{path}:{lines[(*p, '#dup')]}"
        for i, part in enumerate(p):
            # A key the user wrote in its short form (`profile: x` for `profiles: [x]`).
            if part in aliases and p[:i + 1] not in lines and (*p[:i], aliases[part]) in lines:
                p = (*p[:i], aliases[part])
                break
        for n in range(len(p), -1, -1):
            if p[:n] in lines:
                return f"{path}:{lines[p[:n]]}"
        return path

    if dupes:
        raise ConfigError(path, [f"{where(p, own_line=True)}: {_format_loc(p)}: {msg}" for p, msg in dupes])
    env_problems: list[tuple[tuple[Any, ...], str]] = []
    data = _interpolate(data, refs, (), env_problems, strict=read_secrets)
    if env_problems:
        raise ConfigError(path, [f"{where(p)}: {_format_loc(p)}: {msg}" for p, msg in env_problems])
    try:
        config = composed_models()["AgentConfig"].model_validate(data, context={"read_secrets": read_secrets})
    except ValidationError as exc:
        raise ConfigError(path, [_validation_line(err, data, where) for err in exc.errors(
            include_url=False, include_context=True, include_input=True)]) from None
    problems = semantic_problems(config)
    if problems:
        raise ConfigError(path, [f"{where(p)}: {_format_loc(p)}: {msg}" for p, msg in problems])
    return config



def _validation_line(err: Any, data: Any, where: Any) -> str:
    from sentinelle.agent.configwords import model_at, reword

    loc = tuple(err["loc"])
    p = _data_path(data, loc)
    error = (err.get("ctx") or {}).get("error")
    if isinstance(error, SecretFileKeyError):
        p = (*p, error.key)
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        p = (*p, str((err.get("ctx") or {}).get("discriminator", "type")).strip("'"))
    key = next((x for x in reversed(p) if isinstance(x, str)), None)
    root = composed_models()["AgentConfig"]
    reason = reword(dict(err), model_at(root, loc), key, pattern_words(), root)
    if err["type"] not in ("extra_forbidden", "missing"):
        value = err.get("input")
        if isinstance(value, str | int | float) and not isinstance(value, bool) and not _is_secret_key(key):
            if len(str(value)) <= 60 and "@" not in str(value) and f"{value!r}" not in reason:
                reason += f" (got {value!r})"
    return f"{where(p)}: {_format_loc(p)}: {reason}"


def load_config(path: str | Path, *, read_secrets: bool = True) -> AgentConfig:
    """Read and validate a configuration file (see `parse_config`)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(p), [f"{p}: file not found"]) from None
    except IsADirectoryError:
        raise ConfigError(str(p), [f"{p}: is a directory, not a configuration file"]) from None
    except OSError as exc:
        raise ConfigError(str(p), [f"{p}: cannot read: {exc.strerror or exc.__class__.__name__}"]) from None
    try:
        # utf-8-sig: a byte-order mark left by a Windows editor is not an error.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(str(p), [
            f"{p}:{line}: (top level): byte 0x{raw[exc.start]:02x} at column {column} is not UTF-8: "
            "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ]) from None
    return parse_config(text, str(p), read_secrets=read_secrets)
