"""`sentinelle` command line: run, check, demo, spool, and the subcommands other parts add.

Exit codes: 0 fine, 1 a check or a run found problems, 2 the configuration (or the command
line) is wrong. Errors go to stderr in one line per problem, secrets redacted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import inspect
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

from agent.config import Config, ConfigError, load_config, sink_name
from agent.logs import setup_logging

log = logging.getLogger("agent.cli")

# Modules that add subcommands: each has `add_parser(subparsers)`.
EXTENSIONS = ("collectors.snmp.cli", "carbon.cli", "carbon.history.cli", "carbon.factors_cli", "carbon.inventory.cli")

EXIT_OK, EXIT_PROBLEMS, EXIT_CONFIG = 0, 1, 2


def load_or_exit(path: str | Path) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"configuration error in {exc.path}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def _logging_for(config: Config, args: argparse.Namespace) -> None:
    level = "debug" if getattr(args, "verbose", False) else config.agent.log.level
    setup_logging(level, config.agent.log.format, config.secrets())


# --- run ------------------------------------------------------------------------------------


async def cmd_run(args: argparse.Namespace) -> int:
    from agent.runtime import Agent

    config = load_or_exit(args.config)
    _logging_for(config, args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with Agent(config) as agent:
        await agent.run(duration_s=args.duration, stop=stop)
    return EXIT_OK


# --- check ----------------------------------------------------------------------------------


async def cmd_check(args: argparse.Namespace) -> int:
    """Validate the config, then test that devices and sinks answer. Writes nothing."""
    config = load_or_exit(args.config)
    _logging_for(config, args)
    from agent.sinks import build_sink

    rows: list[tuple[str, str, str]] = [("config", "ok", f"{args.config}: {_inventory_summary(config)}")]
    for i, scfg in enumerate(config.effective_sinks()):
        name = sink_name(scfg, i)
        sink = build_sink(scfg, i, config, create=False) if _accepts_create(build_sink) else build_sink(scfg, i, config)
        try:
            await asyncio.wait_for(sink.check(), timeout=scfg.timeout + 5)
            rows.append((f"sink {name}", "ok", scfg.type))
        except Exception as exc:  # noqa: BLE001 - report every problem, not the first
            rows.append((f"sink {name}", "FAIL", _redact(config, str(exc) or type(exc).__name__)))
        finally:
            with contextlib.suppress(Exception):
                await sink.close()
    if not args.no_devices:
        rows.extend(await _check_devices(config))
    width = max(len(r[0]) for r in rows)
    for what, status, detail in rows:
        print(f"{what:<{width}}  {status:<4}  {detail}")
    return EXIT_OK if all(r[1] == "ok" for r in rows) else EXIT_PROBLEMS


def _accepts_create(func: Any) -> bool:
    return "create" in inspect.signature(func).parameters


async def _check_devices(config: Config) -> list[tuple[str, str, str]]:
    devices = [(s, d) for s in config.inventory.sites for d in s.devices if d.snmp is not None]
    if not devices:
        return []
    from collectors.snmp.check import check_devices

    results = await check_devices(config)
    return [(f"device {dev_id}", "ok" if ok else "FAIL", _redact(config, detail)) for dev_id, ok, detail in results]


def _redact(config: Config, text: str) -> str:
    for secret in config.secrets():
        if len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


def _inventory_summary(config: Config) -> str:
    sites = len(config.inventory.sites)
    devices = sum(len(s.devices) for s in config.inventory.sites)
    return f"{sites} site(s), {devices} device(s), {len(config.mqtt)} MQTT broker(s), {len(config.effective_sinks())} sink(s)"


# --- spool ----------------------------------------------------------------------------------


async def cmd_spool(args: argparse.Namespace) -> int:
    from agent.spool import Spool

    config = load_or_exit(args.config)
    path = config.spool_path()
    if not path.exists():
        print(f"no spool at {path} (the agent has not run with this configuration yet)", file=sys.stderr)
        return EXIT_PROBLEMS
    names = [sink_name(s, i) for i, s in enumerate(config.effective_sinks())]
    spool = await Spool.open(path, sinks=names, max_bytes=int(config.spool.max_bytes), sync=config.spool.sync, priorities=config.spool.priorities)
    try:
        if args.action == "stats":
            stats = await spool.stats()
            data = _as_dict(stats)
            if args.json:
                print(json.dumps(data, indent=2, default=str))
            else:
                for key, value in data.items():
                    print(f"{key}: {value}")
        elif args.action == "dead-letters":
            items = await spool.dead_letters(args.sink, limit=args.limit)
            for item in items:
                print(json.dumps(_as_dict(item), default=str, ensure_ascii=False))
        elif args.action == "replay":
            if not args.sink:
                print("spool replay needs --sink NAME (dead letters are kept per sink)", file=sys.stderr)
                return EXIT_CONFIG
            count = await spool.replay_dead_letters(args.sink)
            print(f"{count} dead-lettered point(s) queued again for sink {args.sink}")
    finally:
        await spool.close()
    return EXIT_OK


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
    from agent.demo import run_demo

    return await run_demo(duration_s=args.duration, data_dir=Path(args.data_dir), as_json=args.json, verbose=args.verbose,
                          lang=getattr(args, "lang", "fr"))


# --- parser ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentinelle",
        description="Monitoring agent for public digital networks: SNMP, LoRaWAN/MQTT, energy and carbon.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run the agent")
    p.add_argument("-c", "--config", required=True, help="YAML configuration file")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: run until stopped)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check", help="validate the configuration and test devices and sinks (writes nothing)")
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--no-devices", action="store_true", help="skip the SNMP reachability test")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("spool", help="inspect the local spool (store-and-forward buffer)")
    p.add_argument("action", choices=["stats", "dead-letters", "replay"])
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--sink", default=None, help="sink name (replay, dead-letters)")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_spool)

    p = sub.add_parser("demo", help="run the agent against a simulated site on this machine and print a summary")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of collection (default 20)")
    p.add_argument("--data-dir", default="sentinelle-demo", help="where the local store and report go (default ./sentinelle-demo)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--lang", choices=("fr", "en"), default="fr", help="language of the summary (default fr)")
    p.set_defaults(func=cmd_demo)

    for module_name in EXTENSIONS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name or module_name.startswith(str(exc.name) + "."):
                continue  # that part is not installed in this build
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        setup_logging("debug" if args.verbose else "info")
    started = time.monotonic()
    try:
        result = args.func(args)
        if inspect.isawaitable(result):
            result = asyncio.run(result)
    except KeyboardInterrupt:
        return 130
    except ConfigError as exc:
        print(f"configuration error in {exc.path}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_CONFIG
    log.debug("command %s took %.1fs", args.command, time.monotonic() - started)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
