"""SNMP requests over one pysnmp 7 asyncio engine: batched GETs, GETBULK column walks, errors a
technician can act on.

Why a class and not module functions: pysnmp keeps its transport, SNMPv3 engine-ID cache and
USM users in an `SnmpEngine`; the agent wants exactly one per process (the runtime creates the
`SnmpClient` and hands it to every device), and tests want a fresh one each.

Every request goes through one semaphore (`max_in_flight`, default 50) because UDP on a busy
loopback or a small router drops datagrams above that, which would look like device timeouts.
Values come back as `Varbind`s holding plain Python values, so profiles never touch pyasn1.
Error messages never contain a community or a key: they are built from fixed texts only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
    next_cmd,
    usm3DESEDEPrivProtocol,
    usmAesBlumenthalCfb192Protocol,
    usmAesBlumenthalCfb256Protocol,
    usmAesCfb128Protocol,
    usmAesCfb192Protocol,
    usmAesCfb256Protocol,
    usmDESPrivProtocol,
    usmHMAC128SHA224AuthProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMAC256SHA384AuthProtocol,
    usmHMAC384SHA512AuthProtocol,
    usmHMACMD5AuthProtocol,
    usmHMACSHAAuthProtocol,
    usmNoAuthProtocol,
    usmNoPrivProtocol,
)
from pysnmp.proto import errind

from agent.config import SnmpSettings, SnmpTarget

# OIDs per GET PDU: ~30 keeps a response well under 1472 bytes for typical values.
GET_CHUNK = 30
# Columns walked side by side in one GETBULK.
WALK_COLUMNS_PER_PDU = 10
# A table longer than this per column is a loop or a broken agent, not data.
MAX_ROWS_PER_COLUMN = 20_000

AUTH_PROTOCOLS = {
    "none": usmNoAuthProtocol,
    "md5": usmHMACMD5AuthProtocol,
    "sha": usmHMACSHAAuthProtocol,
    "sha224": usmHMAC128SHA224AuthProtocol,
    "sha256": usmHMAC192SHA256AuthProtocol,
    "sha384": usmHMAC256SHA384AuthProtocol,
    "sha512": usmHMAC384SHA512AuthProtocol,
}
# `aes192`/`aes256` use the Blumenthal key extension (net-snmp, most PDUs and UPS cards);
# `aes192c`/`aes256c` the Reeder one (Cisco).
PRIV_PROTOCOLS = {
    "none": usmNoPrivProtocol,
    "des": usmDESPrivProtocol,
    "3des": usm3DESEDEPrivProtocol,
    "aes": usmAesCfb128Protocol,
    "aes128": usmAesCfb128Protocol,
    "aes192": usmAesBlumenthalCfb192Protocol,
    "aes256": usmAesBlumenthalCfb256Protocol,
    "aes192c": usmAesCfb192Protocol,
    "aes256c": usmAesCfb256Protocol,
}

ABSENT_SYNTAXES = frozenset({"NoSuchObject", "NoSuchInstance", "EndOfMibView"})


@dataclass(frozen=True, slots=True)
class Varbind:
    """One answered OID. `syntax` is the SMI type name (`Counter64`, `OctetString`,
    `TimeTicks`, `NoSuchObject`...); `value` is int, bytes, str (OIDs, IP addresses) or None
    when the device does not have the object."""

    oid: str
    syntax: str
    value: int | bytes | str | None

    @property
    def absent(self) -> bool:
        return self.syntax in ABSENT_SYNTAXES

    def text(self) -> str:
        """The value as text: octet strings decoded as UTF-8 (Latin-1 fallback), NULs stripped."""
        if isinstance(self.value, bytes):
            try:
                out = self.value.decode("utf-8")
            except UnicodeDecodeError:
                out = self.value.decode("latin-1")
            return out.rstrip("\x00").strip()
        return "" if self.value is None else str(self.value)


class SnmpError(Exception):
    """A request that got no usable answer. `kind` is a stable word for metrics and tests:
    timeout, auth, unknown_user, time_window, decryption, unknown_engine, security_level,
    unknown_community, pdu_error, transport, config."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


# Fixed messages per pysnmp error indication; pysnmp's own texts are not shown as they could
# (in other code paths) carry request details.
_INDICATION_MESSAGES: tuple[tuple[type[errind.ErrorIndication], str, str], ...] = (
    (errind.RequestTimedOut, "timeout", "no answer (timeout): check host, port, community/user and ACLs"),
    (errind.WrongDigest, "auth", "authentication failed (wrong digest: check auth_key/auth_protocol)"),
    (errind.AuthenticationFailure, "auth", "authentication failed (check auth_key/auth_protocol)"),
    (errind.AuthenticationError, "auth", "authentication failed (check auth_key/auth_protocol)"),
    (errind.UnknownUserName, "unknown_user", "unknown SNMPv3 user name (check 'user')"),
    (errind.UnknownSecurityName, "unknown_user", "unknown SNMPv3 security name (check 'user')"),
    (errind.NotInTimeWindow, "time_window",
     "SNMPv3 message not in time window (engine boots/time mismatch: the device clock or engine ID changed)"),
    (errind.DecryptionError, "decryption", "decryption failed (check priv_key/priv_protocol)"),
    (errind.UnknownEngineID, "unknown_engine", "SNMPv3 engine-ID discovery failed (unknown engine ID)"),
    (errind.UnsupportedSecurityLevel, "security_level",
     "security level not supported by the device for this user (check auth/priv protocols)"),
    (errind.UnknownCommunityName, "unknown_community", "unknown community name"),
    (errind.UnsupportedPrivProtocol, "config", "privacy protocol not supported"),
    (errind.UnsupportedAuthProtocol, "config", "authentication protocol not supported"),
)


def describe_indication(indication: Any) -> SnmpError:
    """Map a pysnmp errorIndication to an `SnmpError` with a fixed, secret-free message."""
    for cls, kind, message in _INDICATION_MESSAGES:
        if isinstance(indication, cls):
            return SnmpError(kind, message)
    name = type(indication).__name__ if isinstance(indication, errind.ErrorIndication) else "error"
    if isinstance(indication, errind.ReportPduReceived):
        # An unknown report OID: show it, it is no secret.
        return SnmpError("pdu_error", f"the device reported an error (report OID {indication})")
    return SnmpError("transport", f"SNMP engine error: {name}")


def _convert(oid: Any, val: Any) -> Varbind:
    """pyasn1 value -> `Varbind` with a plain Python value."""
    syntax = type(val).__name__
    text_oid = str(oid)
    if syntax in ABSENT_SYNTAXES:
        return Varbind(text_oid, syntax, None)
    if syntax == "IpAddress":
        raw = bytes(val.asOctets())
        return Varbind(text_oid, syntax, ".".join(str(b) for b in raw) if len(raw) == 4 else raw.hex())
    if syntax == "ObjectIdentifier" or syntax == "ObjectName":
        return Varbind(text_oid, "ObjectIdentifier", str(val))
    if hasattr(val, "asOctets"):
        return Varbind(text_oid, syntax, bytes(val.asOctets()))
    try:
        return Varbind(text_oid, syntax, int(val))
    except (TypeError, ValueError):
        return Varbind(text_oid, syntax, str(val))


def _oid_tuple(oid: str) -> tuple[int, ...]:
    return tuple(int(x) for x in oid.strip(".").split("."))


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class SnmpClient:
    """One SNMP engine for the process, and the global in-flight bound.

    Use as `async with SnmpClient(settings) as client:`; `client.session(target)` gives a
    device's session. Counters `requests`/`errors` are plain ints for summaries.
    """

    def __init__(self, settings: SnmpSettings | None = None):
        self.settings = settings or SnmpSettings()
        self.engine = SnmpEngine()
        self._in_flight = asyncio.Semaphore(self.settings.max_in_flight)
        self.requests = 0

    async def __aenter__(self) -> SnmpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the engine's UDP transport (idempotent)."""
        try:
            self.engine.close_dispatcher()
        except Exception:  # noqa: BLE001 - nothing useful to do on a failed close
            pass

    def session(self, target: SnmpTarget) -> SnmpSession:
        return SnmpSession(self, target)


class SnmpSession:
    """Requests to one device with its credentials, timeout, retries and max-repetitions."""

    def __init__(self, client: SnmpClient, target: SnmpTarget):
        self.client = client
        self.target = target
        settings = client.settings
        self.timeout = target.timeout if target.timeout is not None else settings.timeout
        self.retries = target.retries if target.retries is not None else settings.retries
        self.max_repetitions = target.max_repetitions or settings.max_repetitions
        self._auth = self._auth_data(target)
        self._context = ContextData(contextName=target.context.encode()) if target.context else ContextData()
        self._transport: UdpTransportTarget | None = None

    @property
    def max_wait_s(self) -> float:
        """Longest one request can take before pysnmp gives up (all retries)."""
        return self.timeout * (self.retries + 1)

    @staticmethod
    def _auth_data(target: SnmpTarget) -> CommunityData | UsmUserData:
        if target.version in (1, 2):
            community = target.community.get_secret_value() if target.community else "public"
            return CommunityData(community, mpModel=0 if target.version == 1 else 1)
        auth_key = target.auth_key.get_secret_value() if target.auth_key else None
        priv_key = target.priv_key.get_secret_value() if target.priv_key else None
        return UsmUserData(
            target.user or "",
            authKey=auth_key,
            privKey=priv_key,
            authProtocol=AUTH_PROTOCOLS[target.auth_protocol],
            privProtocol=PRIV_PROTOCOLS[target.priv_protocol],
        )

    async def _transport_target(self) -> UdpTransportTarget:
        if self._transport is None:
            try:
                # An IPv6 literal (has colons) needs pysnmp's UDP/IPv6 transport.
                kind = Udp6TransportTarget if ":" in self.target.host else UdpTransportTarget
                self._transport = await kind.create(
                    (self.target.host.strip("[]"), self.target.port), timeout=self.timeout, retries=self.retries
                )
            except Exception as exc:  # noqa: BLE001 - DNS and socket errors
                raise SnmpError("transport", f"cannot resolve or reach {self.target.host}: {type(exc).__name__}") from None
        return self._transport

    async def _request(self, fn: Any, *args: Any) -> list[Varbind]:
        transport = await self._transport_target()
        async with self.client._in_flight:
            self.client.requests += 1
            try:
                # pysnmp enforces timeout and retries itself; the outer bound is a safety net
                # against a lost callback.
                indication, status, index, varbinds = await asyncio.wait_for(
                    fn(self.client.engine, self._auth, transport, self._context, *args, lookupMib=False),
                    self.max_wait_s + 2.0,
                )
            except TimeoutError:
                raise SnmpError("timeout", "no answer (timeout): check host, port, community/user and ACLs") from None
            except SnmpError:
                raise
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - pysnmp raises PySnmpError on bad input
                raise SnmpError("transport", f"SNMP request failed: {type(exc).__name__}") from None
        if indication:
            raise describe_indication(indication)
        if status:
            raise _PduError(int(status), int(index))
        return [_convert(vb[0], vb[1]) for vb in varbinds]

    async def get(self, oids: Sequence[str]) -> dict[str, Varbind]:
        """GET many OIDs (chunked into PDUs of ~30). Objects the device lacks come back as
        absent `Varbind`s, never as errors; SNMPv1 `noSuchName` is handled the same way."""
        out: dict[str, Varbind] = {}
        for chunk in _chunks(list(dict.fromkeys(oids)), GET_CHUNK):
            await self._get_chunk(list(chunk), out)
        return out

    async def _get_chunk(self, oids: list[str], out: dict[str, Varbind]) -> None:
        pending = list(oids)
        while pending:
            try:
                got = await self._request(get_cmd, *[ObjectType(ObjectIdentity(o)) for o in pending])
            except _PduError as err:
                if err.status == 2 and 1 <= err.index <= len(pending):  # noSuchName (SNMPv1)
                    missing = pending.pop(err.index - 1)
                    out[missing] = Varbind(missing, "NoSuchObject", None)
                    continue
                if err.status == 1 and len(pending) > 1:  # tooBig: halve
                    half = len(pending) // 2
                    await self._get_chunk(pending[:half], out)
                    await self._get_chunk(pending[half:], out)
                    return
                raise SnmpError("pdu_error", f"the device answered with error status {err.name}") from None
            for want, vb in zip(pending, got, strict=False):
                out[want] = vb
            return

    async def get_next(self, oids: Sequence[str]) -> dict[str, Varbind]:
        """One GETNEXT per OID (chunked like `get`): `{asked: next varbind}`. Used by profile
        discovery to ask "do you have anything under this table root?" at the cost of one
        varbind. An SNMPv1 noSuchName (end of MIB) gives an EndOfMibView varbind."""
        out: dict[str, Varbind] = {}
        for chunk in _chunks(list(dict.fromkeys(oids)), GET_CHUNK):
            pending = list(chunk)
            while pending:
                try:
                    got = await self._request(next_cmd, *[ObjectType(ObjectIdentity(o)) for o in pending])
                except _PduError as err:
                    if err.status == 2 and 1 <= err.index <= len(pending):
                        gone = pending.pop(err.index - 1)
                        out[gone] = Varbind(gone, "EndOfMibView", None)
                        continue
                    raise SnmpError("pdu_error", f"the device answered with error status {err.name}") from None
                out.update(zip(pending, got, strict=False))
                break
        return out

    async def walk(self, roots: Sequence[str]) -> dict[str, dict[str, Varbind]]:
        """Walk table columns: `{root: {index: Varbind}}` where index is the OID suffix after
        the root (e.g. `"1"` or `"1.4"`). GETBULK (v2c/v3) several columns per PDU; GETNEXT on v1.
        A column the device lacks gives an empty dict."""
        result: dict[str, dict[str, Varbind]] = {r: {} for r in dict.fromkeys(roots)}
        pending = list(result)
        while pending:
            batch, pending = pending[:WALK_COLUMNS_PER_PDU], pending[WALK_COLUMNS_PER_PDU:]
            await self._walk_batch(batch, result)
        return result

    async def _walk_batch(self, roots: list[str], result: dict[str, dict[str, Varbind]]) -> None:
        cursor = {r: r for r in roots}
        prefixes = {r: _oid_tuple(r) for r in roots}
        while cursor:
            active = list(cursor)
            if self.target.version == 1:
                got = await self._request(next_cmd, *[ObjectType(ObjectIdentity(cursor[r])) for r in active])
            else:
                reps = max(1, self.max_repetitions // len(active))
                got = await self._request(
                    bulk_cmd, 0, reps, *[ObjectType(ObjectIdentity(cursor[r])) for r in active]
                )
            if not got:
                return
            finished: set[str] = set()
            advanced: set[str] = set()
            for i, vb in enumerate(got):
                root = active[i % len(active)]
                if root in finished:
                    continue
                oid = _oid_tuple(vb.oid)
                prefix = prefixes[root]
                if vb.syntax == "EndOfMibView" or oid[: len(prefix)] != prefix or len(oid) == len(prefix):
                    finished.add(root)
                    continue
                if oid <= _oid_tuple(cursor[root]):  # not increasing: broken agent
                    finished.add(root)
                    continue
                if vb.absent:
                    finished.add(root)
                    continue
                result[root][".".join(str(x) for x in oid[len(prefix) :])] = vb
                cursor[root] = vb.oid
                advanced.add(root)
                if len(result[root]) >= MAX_ROWS_PER_COLUMN:
                    finished.add(root)
            for root in active:
                if root in finished or root not in advanced:
                    cursor.pop(root, None)


class _PduError(Exception):
    NAMES = {1: "tooBig", 2: "noSuchName", 3: "badValue", 4: "readOnly", 5: "genErr",
             6: "noAccess", 16: "authorizationError"}

    def __init__(self, status: int, index: int):
        super().__init__(status, index)
        self.status = status
        self.index = index
        self.name = self.NAMES.get(status, str(status))
