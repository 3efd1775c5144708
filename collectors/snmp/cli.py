"""`sentinelle probe HOST`: identify a device, pick its profiles, poll once, show decoded values.

What a technician runs first on a new PDU or UPS: it says which profiles match, what each
OID decodes to, with units, and which OIDs the device does not answer (so a profile can be
fixed or a firmware upgrade asked for). Keys are read from files, never from the command line
(they would show in `ps` and shell history).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from pydantic import SecretStr, ValidationError

from agent.config import SnmpSettings, SnmpTarget
from agent.configtypes import read_secret_file
from collectors.snmp.client import SnmpClient, SnmpError
from collectors.snmp.decode import SYS_DESCR, SYS_NAME, SYS_OBJECT_ID, Missing, decode, plan
from collectors.snmp.profiles import ProfileCatalog, ProfileError, unit_of


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("probe", help="identify an SNMP device and show its decoded values",
                              description=__doc__.splitlines()[0])
    p.add_argument("host")
    p.add_argument("--port", type=int, default=161)
    p.add_argument("--version", default="2c", choices=["1", "2", "2c", "3"])
    p.add_argument("--community", default="public")
    p.add_argument("--community-file", type=Path)
    p.add_argument("--user")
    p.add_argument("--auth-protocol", default="none")
    p.add_argument("--auth-key-file", type=Path)
    p.add_argument("--priv-protocol", default="none")
    p.add_argument("--priv-key-file", type=Path)
    p.add_argument("--context", default="")
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument("--retries", type=int, default=1)
    p.add_argument("--profile", action="append", default=[], help="profile name (repeatable); default: automatic")
    p.add_argument("--profiles-dir", action="append", type=Path, default=[], help="extra profiles directory")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run_probe)


def target_from_args(args: argparse.Namespace) -> SnmpTarget:
    """Build an `SnmpTarget`; raises ValueError with a secret-free message."""
    data: dict[str, Any] = {"host": args.host, "port": args.port, "version": args.version,
                            "context": args.context, "timeout": args.timeout, "retries": args.retries}
    if args.version == "3":
        data.update(user=args.user, auth_protocol=args.auth_protocol, priv_protocol=args.priv_protocol)
        if args.auth_key_file:
            data["auth_key"] = SecretStr(read_secret_file(args.auth_key_file))
        if args.priv_key_file:
            data["priv_key"] = SecretStr(read_secret_file(args.priv_key_file))
    else:
        community = read_secret_file(args.community_file) if args.community_file else args.community
        data["community"] = SecretStr(community)
    try:
        return SnmpTarget.model_validate(data)
    except ValidationError as exc:
        raise ValueError("; ".join(f"{'.'.join(map(str, e['loc'])) or 'snmp'}: {e['msg'].removeprefix('Value error, ')}"
                                   for e in exc.errors(include_url=False))) from None


async def probe(target: SnmpTarget, catalog: ProfileCatalog, names: list[str]) -> dict[str, Any]:
    """Identify, select profiles, poll once; the result is what `--json` prints."""
    async with SnmpClient(SnmpSettings(timeout=target.timeout or 2.0, retries=target.retries or 0)) as client:
        session = client.session(target)
        detect = [] if names else catalog.detect_oids()
        ident = await session.get([SYS_DESCR, SYS_OBJECT_ID, SYS_NAME, *detect])
        sys_object_id = ident[SYS_OBJECT_ID].text() if not ident[SYS_OBJECT_ID].absent else None
        present = [o for o in detect if not ident[o].absent]
        profiles = catalog.select(sys_object_id, names, present)
        todo = plan(profiles)
        scalars = await session.get(todo.scalars)
        tables = await session.walk(todo.columns) if todo.columns else {}
    missing: list[Missing] = []
    readings = decode(profiles, scalars, tables, missing)
    units = {f.name: f.display_unit for p in profiles for g in p.groups for f in g.fields}
    values = []
    for r in readings:
        for name, value in r.fields.items():
            values.append({"measurement": r.measurement, "tags": r.tags, "field": name, "value": value,
                           "unit": units.get(name, unit_of(name))})
    return {
        "host": target.host, "port": target.port,
        "sys_descr": ident[SYS_DESCR].text(), "sys_object_id": sys_object_id, "sys_name": ident[SYS_NAME].text(),
        "profiles": [p.name for p in profiles],
        "values": values,
        "not_answered": [{"profile": m.profile, "measurement": m.measurement, "field": m.name, "oid": m.oid}
                         for m in missing],
    }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.0f}"
    return str(value)


def print_table(result: dict[str, Any], out: TextIO) -> None:
    out.write(f"Device     {result['host']}:{result['port']}  {result['sys_name']}\n")
    out.write(f"sysDescr   {result['sys_descr'][:100]}\n")
    out.write(f"sysObjectID {result['sys_object_id']}\n")
    out.write(f"Profiles   {', '.join(result['profiles'])}\n\n")
    rows = [(v["measurement"], ",".join(f"{k}={t}" for k, t in sorted(v["tags"].items())), v["field"],
             _fmt(v["value"]), v["unit"]) for v in result["values"]]
    headers = ("measurement", "tags", "field", "value", "unit")
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    widths[1] = min(widths[1], 60)
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out.write(line + "\n" + "-" * len(line) + "\n")
    for r in rows:
        out.write("  ".join(c[:w].ljust(w) if i != 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))) + "\n")
    if result["not_answered"]:
        out.write("\nNot answered by the device:\n")
        for m in result["not_answered"]:
            out.write(f"  {m['profile']}: {m['measurement']}.{m['field']} ({m['oid']})\n")


async def run_probe(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        target = target_from_args(args)
        catalog = ProfileCatalog.load(args.profiles_dir)
        for name in args.profile:
            catalog.get(name)
    except (ValueError, ProfileError) as exc:
        print(f"probe: {exc}", file=sys.stderr)
        return 2
    try:
        result = await probe(target, catalog, args.profile)
    except SnmpError as err:
        if args.json:
            out.write(json.dumps({"host": args.host, "error": err.kind, "message": str(err)}) + "\n")
        print(f"probe: {args.host}: {err}", file=sys.stderr)
        return 1
    if args.json:
        out.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    else:
        print_table(result, out)
    return 0
