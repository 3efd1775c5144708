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
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from pydantic import SecretStr, ValidationError

from sentinelle.agent.config import DeviceSettings
from sentinelle.agent.configtypes import read_secret_file
from sentinelle.collectors.snmp.client import SnmpClient, SnmpError, SnmpSession, Varbind
from sentinelle.collectors.snmp.decode import SYS_DESCR, SYS_NAME, Discarded, Missing, Reading, decode, plan
from sentinelle.collectors.snmp.device import SnmpDevice
from sentinelle.collectors.snmp.profiles import Profile, ProfileCatalog, ProfileError, unit_of
from sentinelle.collectors.snmp.settings import SnmpSettings, SnmpTargetSettings


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("probe", help="identify an SNMP device and show its decoded values",
                              description=__doc__.splitlines()[0])
    p.add_argument("host", help="HOST, HOST:PORT, IPv6 address or [IPv6]:PORT")
    p.add_argument("--port", type=int, default=None, help="UDP port (default 161, or the one in HOST:PORT)")
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


def split_host_port(text: str, port: int | None) -> tuple[str, int]:
    """`host`, `host:port`, `v6addr`, `[v6addr]` or `[v6addr]:port` -> (host, port).
    A bare IPv6 address has several colons and no port; `--port` wins over neither form."""
    host, found = text.strip(), None
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            raise ValueError(f"{text!r}: missing ']' after the IPv6 address")
        rest = host[end + 1:]
        host = host[1:end]
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ValueError(f"{text!r}: expected [IPv6]:PORT")
            found = int(rest[1:])
    elif host.count(":") == 1:
        host, _, tail = host.partition(":")
        if not tail.isdigit():
            raise ValueError(f"{text!r}: the port after ':' must be a number")
        found = int(tail)
    if not host:
        raise ValueError(f"{text!r}: no host")
    if port is not None and found is not None and port != found:
        raise ValueError(f"{text!r}: port {found} and --port {port} disagree")
    chosen = port if port is not None else found if found is not None else 161
    if not 1 <= chosen <= 65535:
        raise ValueError(f"port {chosen}: must be 1..65535")
    return host, chosen


def target_from_args(args: argparse.Namespace) -> SnmpTargetSettings:
    """Build an `SnmpTargetSettings`; raises ValueError with a secret-free message."""
    host, port = split_host_port(args.host, args.port)
    data: dict[str, Any] = {"host": host, "port": port, "version": args.version,
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
        return SnmpTargetSettings.model_validate(data)
    except ValidationError as exc:
        raise ValueError("; ".join(f"{'.'.join(map(str, e['loc'])) or 'snmp'}: {e['msg'].removeprefix('Value error, ')}"
                                   for e in exc.errors(include_url=False))) from None


# Per-field outcome words (`status` in --json), in the order a technician should read them.
ANSWERED = "answered"
NO_SUCH_OBJECT = "noSuchObject"
NO_SUCH_INSTANCE = "noSuchInstance"
OUTSIDE_VIEW = "outside the view or table end"
UNSUPPORTED = "not supported by the device"
IMPLAUSIBLE = "implausible"
TIMEOUT = "timeout"


def _absent_status(vb: Varbind | None) -> str:
    if vb is None or vb.syntax == "EndOfMibView":
        return OUTSIDE_VIEW
    return NO_SUCH_INSTANCE if vb.syntax == "NoSuchInstance" else NO_SUCH_OBJECT


async def _collect(session: SnmpSession, profiles: list[Profile]) -> tuple[dict[str, Varbind], dict[str, dict[str, Varbind]], set[str]]:
    """GET the scalars and walk each group's columns separately, so a timeout is pinned on
    the OIDs it hit instead of failing the whole probe. Returns the OIDs that timed out."""
    todo = plan(profiles)
    timed_out: set[str] = set()
    try:
        scalars = await session.name_absent(await session.get(todo.scalars))
    except SnmpError as err:
        if err.kind != "timeout":
            raise
        scalars, timed_out = {}, set(todo.scalars)
    tables: dict[str, dict[str, Varbind]] = {}
    for profile in profiles:
        for group in profile.groups:
            if not group.table:
                continue
            columns = [c for c in plan([profile.model_copy(update={"groups": [group]})]).columns if c not in tables]
            if not columns:
                continue
            try:
                tables.update(await session.walk(columns))
            except SnmpError as err:
                if err.kind != "timeout":
                    raise
                timed_out.update(columns)
    return scalars, tables, timed_out


def field_statuses(profiles: list[Profile], scalars: Mapping[str, Varbind], tables: Mapping[str, Mapping[str, Varbind]],
                   timed_out: set[str], readings: list[Reading], discarded: list[Discarded]) -> list[dict[str, Any]]:
    """One line per profile field: answered, noSuchObject/noSuchInstance, outside the view or
    table end, not supported by the device (sentinel), implausible, or timeout."""
    written = {(r.measurement, name) for r in readings for name in r.fields}
    rejected: dict[tuple[str, str, str], list[Discarded]] = {}
    for d in discarded:
        rejected.setdefault((d.profile, d.measurement, d.name), []).append(d)
    out: list[dict[str, Any]] = []
    for profile in profiles:
        for group in profile.groups:
            for spec in group.fields:
                oids = [o for o in (spec.oid, spec.fallback) if o]
                entry: dict[str, Any] = {"profile": profile.name, "measurement": group.measurement,
                                         "field": spec.name, "oid": spec.oid}
                bad = rejected.get((profile.name, group.measurement, spec.name), [])
                if group.transform == "entity-sensor":
                    entry["status"] = ANSWERED if _lookup_any(tables, oids) else OUTSIDE_VIEW
                elif any(o in timed_out for o in oids):
                    entry["status"] = TIMEOUT
                elif (group.measurement, spec.name) in written:
                    entry["status"] = ANSWERED
                elif bad:
                    entry["status"] = IMPLAUSIBLE if any(b.reason == "implausible" for b in bad) else UNSUPPORTED
                elif group.table:
                    entry["status"] = ANSWERED if _lookup_any(tables, oids) else OUTSIDE_VIEW
                else:
                    vb = next((scalars[o] for o in oids if o in scalars and not scalars[o].absent), None)
                    entry["status"] = ANSWERED if vb is not None else _absent_status(scalars.get(spec.oid))
                if bad:
                    entry["detail"] = [{"tags": b.tags, "raw": b.raw, "reason": b.reason,
                                        "text": b.describe(spec.display_unit)} for b in bad]
                out.append(entry)
    return out


def _lookup_any(tables: Mapping[str, Mapping[str, Varbind]], oids: list[str]) -> bool:
    return any(tables.get(o) for o in oids)


async def probe(target: SnmpTargetSettings, catalog: ProfileCatalog, names: list[str]) -> dict[str, Any]:
    """Identify and select profiles exactly as the agent does (discovery, quirks), poll once;
    the result is what `--json` prints."""
    async with SnmpClient(SnmpSettings(timeout=target.timeout or 2.0, retries=target.retries or 0)) as client:
        session = client.session(target)
        device = SnmpDevice(DeviceSettings(id="probe", snmp=target, profiles=names), session, catalog, 60.0)
        ident = await device.identify()
        profiles = device.profiles or []
        scalars, tables, timed_out = await _collect(session, profiles)
    missing: list[Missing] = []
    discarded: list[Discarded] = []
    readings = decode(profiles, scalars, tables, missing, discarded)
    units = {f.name: f.display_unit for p in profiles for g in p.groups for f in g.fields}
    values = []
    for r in readings:
        for name, value in r.fields.items():
            values.append({"measurement": r.measurement, "tags": r.tags, "field": name, "value": value,
                           "unit": units.get(name, unit_of(name))})
    fields = field_statuses(profiles, scalars, tables, timed_out, readings, discarded)
    return {
        "host": target.host, "port": target.port,
        "sys_descr": ident[SYS_DESCR].text(), "sys_object_id": device.sys_object_id, "sys_name": ident[SYS_NAME].text(),
        "profiles": [p.name for p in profiles],
        "quirks": device.quirks,
        "values": values,
        "fields": fields,
        "discarded": [{"profile": d.profile, "measurement": d.measurement, "tags": d.tags, "field": d.name,
                       "oid": d.oid, "raw": d.raw, "reason": d.reason, "text": d.describe(units.get(d.name, ""))}
                      for d in discarded],
        "not_answered": [{"profile": f["profile"], "measurement": f["measurement"], "field": f["field"],
                          "oid": f["oid"], "status": f["status"]}
                         for f in fields if f["status"] in (NO_SUCH_OBJECT, NO_SUCH_INSTANCE, OUTSIDE_VIEW, TIMEOUT)],
    }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.0f}"
    return str(value)


def print_table(result: dict[str, Any], out: TextIO) -> None:
    out.write(f"Device     {result['host']}:{result['port']}  {result['sys_name']}\n")
    out.write(f"sysDescr   {result['sys_descr'][:100]}\n")
    out.write(f"sysObjectID {result['sys_object_id']}\n")
    out.write(f"Profiles   {', '.join(result['profiles'])}\n")
    if result.get("quirks"):
        out.write(f"Quirks     {', '.join(result['quirks'])}\n")
    out.write("\n")
    rows = [(v["measurement"], ",".join(f"{k}={t}" for k, t in sorted(v["tags"].items())), v["field"],
             _fmt(v["value"]), v["unit"]) for v in result["values"]]
    headers = ("measurement", "tags", "field", "value", "unit")
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    widths[1] = min(widths[1], 60)
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out.write(line + "\n" + "-" * len(line) + "\n")
    for r in rows:
        out.write("  ".join(c[:w].ljust(w) if i != 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))) + "\n")
    for title, reason in (("Not supported by the device (sentinel values, not written)", "unsupported"),
                          ("Implausible (not written; fix with an override)", "implausible")):
        rows_d = [d for d in result["discarded"] if d["reason"] == reason]
        if rows_d:
            out.write(f"\n{title}:\n")
            for d in rows_d:
                where = ",".join(f"{k}={t}" for k, t in sorted(d["tags"].items()))
                out.write(f"  {d['profile']}: {d['measurement']}.{d['field']}{' [' + where + ']' if where else ''}"
                          f" ({d['oid']}): {d['text']}\n")
    if result["not_answered"]:
        out.write("\nNot answered by the device:\n")
        for m in result["not_answered"]:
            out.write(f"  {m['profile']}: {m['measurement']}.{m['field']} ({m['oid']}): {m['status']}\n")


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
