"""`sentinelle` command line: run, check, demo, spool, and the subcommands other parts add.

Exit codes: 0 fine, 1 a check or a run found problems (or a peer did not answer), 2 the
configuration or the command line is wrong. Errors go to stderr in one line per problem,
secrets redacted; no command prints a Python traceback unless `-v` asks for it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import importlib.metadata
import inspect
import json
import logging
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentinelle.agent.config import ConfigError, load_config
from sentinelle.agent.configtypes import parse_duration
from sentinelle.agent.logs import setup_logging
from sentinelle.agent.messages import LANGS, say
from sentinelle.agent.parts import EXTENSIONS, installed_parts, registered_collectors
from sentinelle.agent.redaction import Redactor
from sentinelle.agent.sinks.settings import sink_name

if TYPE_CHECKING:
    from sentinelle.agent.config import AgentConfig  # composed at run time


log = logging.getLogger("sentinelle.agent.cli")

EXIT_OK, EXIT_PROBLEMS, EXIT_CONFIG = 0, 1, 2


def load_or_exit(path: str | Path, *, read_secrets: bool = True, lang: str | None = None) -> AgentConfig:
    """The validated configuration, or the problems on stderr and exit 2. `read_secrets=False`
    for read-only commands: a `${VAR}` or secret file they do not use is not required."""
    try:
        return load_config(path, read_secrets=read_secrets)
    except ConfigError as exc:
        print_config_error(exc, lang or "fr")
        raise SystemExit(EXIT_CONFIG) from None


def print_config_error(exc: ConfigError, lang: str) -> None:
    print(say(lang, "config_error", path=exc.path), file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)


def lang_of(args: argparse.Namespace, config: AgentConfig | None = None) -> str:
    """`--lang`, else `agent.lang` of the file, else French."""
    chosen = getattr(args, "lang", None)
    if chosen:
        return str(chosen)
    return config.agent.lang if config is not None else "fr"


def duration_arg(text: str) -> float:
    """A command-line duration written as in the file: `20`, `20s`, `5m`, `1h30m`."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _logging_for(config: AgentConfig, args: argparse.Namespace) -> None:
    level = "debug" if getattr(args, "verbose", False) else config.agent.log.level
    setup_logging(level, config.agent.log.format, config.secrets())


# --- run ------------------------------------------------------------------------------------


async def cmd_run(args: argparse.Namespace) -> int:
    from sentinelle.agent.runtime import Agent

    config = load_or_exit(args.config, lang=getattr(args, "lang", None))
    _logging_for(config, args)
    lang = lang_of(args, config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()

    def on_signal(sig: signal.Signals) -> None:
        # First signal: a clean stop (collectors end, forwarders drain for a bounded time).
        # Second: at once; nothing is lost, the spool is durable and is sent at the next start.
        if not stop.is_set():
            log.warning(say(lang, "stopping", signal=sig.name))
            stop.set()
        else:
            log.warning(say(lang, "stop_now"))
            if main_task is not None:
                main_task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, on_signal, sig)
    try:
        async with Agent(config) as agent:
            await agent.run(duration_s=args.duration, stop=stop)
            await agent.stop()
            if agent.spool is not None:
                stats = await agent.spool.stats()
                log.info(say(lang, "left_in_spool", count=max(stats.pending.values(), default=0), path=config.spool_path()))
    except asyncio.CancelledError:
        return 130
    return EXIT_OK


# --- check ----------------------------------------------------------------------------------


async def cmd_check(args: argparse.Namespace) -> int:
    """Validate the config, then test that devices and sinks answer. Writes nothing."""
    config = load_or_exit(args.config, lang=getattr(args, "lang", None))
    _logging_for(config, args)
    lang = lang_of(args, config)
    from sentinelle.agent.sinks.build import build_sink

    rows: list[tuple[str, bool, str]] = [
        (say(lang, "check_config"), True, f"{args.config}: {_inventory_summary(config, lang)}"),
        _data_dir_row(config, lang),
    ]
    for i, scfg in enumerate(config.effective_sinks()):
        name = sink_name(scfg, i)
        sink = None
        try:
            sink = build_sink(scfg, i, config, create=False) if _accepts_create(build_sink) else build_sink(scfg, i, config)
            await asyncio.wait_for(sink.check(), timeout=scfg.timeout + 5)
            rows.append((say(lang, "check_sink", name=name), True, scfg.type))
        except Exception as exc:  # noqa: BLE001 - report every problem, not the first
            rows.append((say(lang, "check_sink", name=name), False, _redact(config, str(exc) or type(exc).__name__)))
        finally:
            if sink is not None:
                with contextlib.suppress(Exception):
                    await sink.close()
    if not args.no_devices:
        rows.extend(await _check_collectors(config, args.timeout, lang))
    _print_check_table(rows, lang)
    return EXIT_OK if all(ok for _, ok, _ in rows) else EXIT_PROBLEMS


def _print_check_table(rows: list[tuple[str, bool, str]], lang: str) -> None:
    """One aligned line per thing checked: label, ok or FAIL (ÉCHEC), detail."""
    words = {True: say(lang, "check_ok"), False: say(lang, "check_fail")}
    width = max(len(r[0]) for r in rows)
    status_width = max(len(w) for w in words.values())
    for what, ok, detail in rows:
        print(f"{what:<{width}}  {words[ok]:<{status_width}}  {detail}")


def _data_dir_row(config: AgentConfig, lang: str) -> tuple[str, bool, str]:
    """Where `run` keeps its spool, and whether this user may create or write it (checked
    with access rights, writing nothing)."""
    data_dir = Path(config.agent.data_dir)
    existing = next((p for p in (data_dir, *data_dir.parents) if p.exists()), Path("/"))
    detail = say(lang, "data_dir", path=data_dir)
    row = say(lang, "check_data_dir")
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return row, False, f"{detail}: {say(lang, 'data_dir_denied', path=existing)}"
    return row, True, detail


def _accepts_create(func: Any) -> bool:
    return "create" in inspect.signature(func).parameters


async def _check_collectors(config: AgentConfig, timeout_s: float, lang: str = "en") -> list[tuple[str, bool, str]]:
    """The `check` rows of every registered collector this configuration uses, in order, in the
    run's language; details redacted with the file's secrets."""

    rows: list[tuple[str, bool, str]] = []
    for collector in registered_collectors():
        check = getattr(collector, "check", None)
        if check is None or not collector.wanted(config):
            continue
        rows.extend((label, ok, _redact(config, detail)) for label, ok, detail in await check(config, timeout_s, lang=lang))
    return rows


def _redact(config: AgentConfig, text: str) -> str:
    return Redactor(config.secrets())(text)


def _inventory_summary(config: AgentConfig, lang: str = "en") -> str:
    sites = len(config.inventory.sites)
    devices = sum(len(s.devices) for s in config.inventory.sites)
    return say(lang, "config_ok", sites=sites, devices=devices, brokers=len(config.mqtt), sinks=len(config.effective_sinks()))


# --- spool ----------------------------------------------------------------------------------


async def cmd_spool(args: argparse.Namespace) -> int:
    from sentinelle.agent.spool import Spool

    # Read-only: the spool's place and the sink names are all it needs, not the secrets.
    config = load_or_exit(args.config, read_secrets=False, lang=getattr(args, "lang", None))
    lang = lang_of(args, config)
    names = [sink_name(s, i) for i, s in enumerate(config.effective_sinks())]
    if args.action == "replay" and not args.sink:
        print(say(lang, "replay_needs_sink"), file=sys.stderr)
        return EXIT_CONFIG
    if args.sink is not None and args.sink not in names:
        print(say(lang, "unknown_sink", name=args.sink, names=", ".join(names)), file=sys.stderr)
        return EXIT_CONFIG
    path = config.spool_path()
    if not path.exists():
        print(say(lang, "no_spool", path=path), file=sys.stderr)
        return EXIT_PROBLEMS
    spool = await Spool.open(path, sinks=names, max_bytes=int(config.spool.max_bytes), sync=config.spool.sync, priorities=config.spool.priorities)
    try:
        if args.action == "stats":
            stats = await spool.stats()
            data = _as_dict(stats)
            if args.json:
                print(json.dumps(data, indent=2, default=str))
            else:
                for line in _spool_summary(stats, path, lang):
                    print(line)
        elif args.action == "dead-letters":
            for item in await spool.dead_letters(args.sink, limit=args.limit):
                print(json.dumps(_as_dict(item), default=str, ensure_ascii=False))
        elif args.action == "replay":
            count = await spool.replay_dead_letters(args.sink)
            print(say(lang, "replayed", count=count, sink=args.sink))
    finally:
        await spool.close()
    return EXIT_OK


def _spool_summary(stats: Any, path: Path, lang: str) -> list[str]:
    """`spool stats` for a person: size against the cap, then per sink what waits, how old,
    what was set aside; `--json` keeps every raw counter for scripts."""
    from sentinelle.agent.messages import number

    def size(n: int) -> str:
        for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
            if n >= scale:
                return f"{number(lang, n / scale, 1)} {unit}"
        return f"{n} B"

    lines = [say(lang, "spool_size", path=path, size=size(stats.bytes), cap=size(stats.max_bytes),
                 points=stats.points, dropped=stats.dropped)]
    for sink, count in stats.pending.items():
        age = stats.oldest_pending_age_s.get(sink)
        oldest = "-" if age is None else f"{number(lang, age / 60, 1)} min"
        lines.append(say(lang, "spool_sink", sink=sink, pending=count, oldest=oldest,
                         dead=stats.dead_letters.get(sink, 0)))
    return lines


def _as_dict(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(obj)
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    if isinstance(obj, dict):
        return obj
    return dict(vars(obj))


# --- demo -----------------------------------------------------------------------------------


async def cmd_demo(args: argparse.Namespace) -> int:
    from sentinelle.agent.demo import run_demo

    return await run_demo(duration_s=args.duration, data_dir=Path(args.data_dir), as_json=args.json, verbose=args.verbose,
                          lang=lang_of(args))


# --- parser ---------------------------------------------------------------------------------


class HelpWithDefaults(argparse.HelpFormatter):
    """Every option's help line ends with its default when it has a meaningful one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "%(default)" in text or "default" in text.lower() or not action.option_strings:
            return text
        if default is None or default is argparse.SUPPRESS or isinstance(default, bool) or default in ("", []):
            return text
        return f"{text} (default: %(default)s)"


# Options that are durations, whichever module declares them: accepted as in the file (20s, 5m).
DURATION_OPTIONS = {"duration", "timeout", "interval", "drain", "max_gap", "staleness"}


def _common_options(parser: argparse.ArgumentParser, top: bool) -> None:
    """`-v` and `--lang`, accepted before or after the subcommand (`sentinelle check -v`)."""
    default: Any = False if top else argparse.SUPPRESS
    lang_default: Any = None if top else argparse.SUPPRESS
    if "-v" not in parser._option_string_actions:
        parser.add_argument("-v", "--verbose", action="store_true", default=default,
                            help="debug logging, and the full traceback of an unexpected error")
    if "--lang" not in parser._option_string_actions:
        parser.add_argument("--lang", choices=LANGS, default=lang_default,
                            help="language of the summaries: fr or en (default: agent.lang of the file, else fr)")


def _finish(parser: argparse.ArgumentParser) -> None:
    """Same conventions for every subcommand, including those other modules add."""
    parser.formatter_class = HelpWithDefaults
    _common_options(parser, top=False)
    for action in parser._actions:
        if action.dest in ("lang", "verbose"):
            # Declared again by a subcommand: it must not hide `sentinelle --lang en report`.
            action.default = argparse.SUPPRESS
        if action.dest in DURATION_OPTIONS and action.type in (float, int):
            action.type = duration_arg
            action.metavar = action.metavar or "DURATION"
        if action.help is None and action.option_strings:
            action.help = _GENERIC_HELP.get(action.dest, action.dest.replace("_", " "))


_GENERIC_HELP = {
    "config": "YAML configuration file",
    "json": "print JSON instead of a table",
    "limit": "at most this many lines",
    "sink": "sink name (as `check` lists them)",
}


def version() -> str:
    try:
        return importlib.metadata.version("sentinelle")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentinelle",
        description="Monitoring agent for public digital networks: SNMP, LoRaWAN/MQTT, energy and carbon.",
        formatter_class=HelpWithDefaults,
    )
    parser.add_argument("--version", action="version", version=f"sentinelle {version()}")
    _common_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run the agent")
    p.add_argument("-c", "--config", required=True, help="YAML configuration file")
    p.add_argument("--duration", type=duration_arg, default=None, metavar="DURATION",
                   help="stop after this long, e.g. 20s, 5m, 2h (default: run until stopped)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check", help="validate the configuration and test devices, brokers and sinks (writes nothing)")
    p.add_argument("-c", "--config", required=True, help="YAML configuration file")
    p.add_argument("--no-devices", action="store_true", help="skip the SNMP and MQTT reachability tests")
    p.add_argument("--timeout", type=duration_arg, default=10.0, metavar="DURATION",
                   help="how long to wait for each MQTT broker")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("spool", help="inspect the local spool (store-and-forward buffer)")
    p.add_argument("action", choices=["stats", "dead-letters", "replay"], help="what to do")
    p.add_argument("-c", "--config", required=True, help="YAML configuration file")
    p.add_argument("--sink", default=None, help="sink name (replay: required; dead-letters: default all sinks)")
    p.add_argument("--limit", type=_positive_int, default=100, help="dead-letters: at most this many")
    p.add_argument("--json", action="store_true", help="stats: print JSON")
    p.set_defaults(func=cmd_spool)

    p = sub.add_parser("demo", help="run the agent against a simulated site on this machine and print a summary")
    p.add_argument("--duration", type=duration_arg, default=20.0, metavar="DURATION", help="collection time, e.g. 20s or 1m")
    p.add_argument("--data-dir", default="sentinelle-demo", help="where the local store and report go")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--lang", choices=("fr", "en"), default="fr", help="language of the summary (default fr)")
    p.set_defaults(func=cmd_demo)

    for module in installed_parts(EXTENSIONS):
        module.add_parser(sub)
    for subparser in dict.fromkeys(sub.choices.values()):
        _finish(subparser)
    return parser


def _redact_with_file(args: argparse.Namespace, text: str) -> str:
    """An unexpected error's message may quote a URL or a reply holding a secret of the file."""
    path = getattr(args, "config", None)
    if not path:
        return text
    try:
        return _redact(load_config(path), text)
    except Exception:  # noqa: BLE001 - the file itself may be the problem; keep the message
        return text


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    """Parse, run one command, map every outcome to an exit code; never a bare traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        setup_logging("debug" if args.verbose else "info")
    started = time.monotonic()
    lang = getattr(args, "lang", None) or "fr"
    try:
        result = args.func(args)
        if inspect.isawaitable(result):
            result = asyncio.run(result)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `sentinelle spool stats | head`: the reader left; not an error of ours.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaces the closed pipe until exit
        return EXIT_OK
    except ConfigError as exc:
        print_config_error(exc, lang)
        return EXIT_CONFIG
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - the last-resort guard: one line, not a traceback
        if args.verbose:
            traceback.print_exc()
        error = _redact_with_file(args, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        print(f"sentinelle {args.command}: {say(lang, 'unexpected', error=error)}", file=sys.stderr)
        return EXIT_PROBLEMS
    log.debug("command %s took %.1fs", args.command, time.monotonic() - started)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
