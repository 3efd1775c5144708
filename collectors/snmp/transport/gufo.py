"""gufo-snmp backend (the default): a Rust BER/USM core driven from asyncio, about 40x less CPU
per varbind than pysnmp hlapi on this machine kind (benchmarks/RESULTS.md).

Its limits, and where each is handled:
- one request at a time per session (one UDP socket, replies matched by request-id only within
  the pending request): `GufoSession` holds an `asyncio.Lock` around every request;
- no retries: client.py retries, and a walk resumes from its last OID because the gufo
  `GetIter` of a column is kept between attempts;
- values are plain int/bytes/str without their SMI type: ints are `UNTYPED_INT`, so counter
  width comes from the profile (`bits:`), not from the answer;
- GET answers omit objects the device lacks (noSuchObject/noSuchInstance) and, on SNMPv1, a
  noSuchName drops the whole answer: both become absent varbinds here (v1 by splitting);
- SNMPv3 engine boots/time are learnt once (`refresh`); a session idle past the 150 s window,
  or a device that rebooted, fails its next request (timeout or `SnmpAuthError`): refresh when
  idle, and refresh and retry once on such a failure;
- one socket per session: file-descriptor budget in docs/scaling.md;
- GETNEXT carries one varbind per request (`get_next`, used by discovery once a day);
- IPv6 literals are accepted as they are (gufo brackets them for the socket address);
- no SNMPv3 context names, no 3DES: `needs_pysnmp()` sends such targets to the pysnmp backend.

Walks use gufo's socket-level calls (`send_get_bulk`/`recv_get_bulk` with a `GetIter`) rather
than its `getbulk()` async iterator, which hides where a walk stopped and so cannot be resumed
after a timeout. One walk per column at a time on a session (the device polls them in turn).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from gufo.snmp import (
    Aes128Key,
    Aes192Key,
    Aes256Key,
    DesKey,
    KeyExpansion,
    Md5Key,
    NoSuchInstance,
    Sha1Key,
    Sha224Key,
    Sha256Key,
    Sha384Key,
    Sha512Key,
    SnmpAuthError,
    SnmpDecodeError,
    SnmpEncodeError,
    SnmpVersion,
    User,
)
from gufo.snmp import SnmpError as GufoError
from gufo.snmp._fast import GetIter
from gufo.snmp.aio.client import SnmpSession as GufoAioSession

from sentinelle.collectors.snmp.settings import SnmpTargetSettings
from sentinelle.collectors.snmp.transport import TIMEOUT_MESSAGE, UNTYPED_INT, SnmpError, Varbind

# gufo's advice: refresh when over 150 s passed since the last request (RFC 3414's window).
REFRESH_AFTER_S = 140.0

_AUTH_KEYS = {"md5": Md5Key, "sha": Sha1Key, "sha224": Sha224Key, "sha256": Sha256Key,
              "sha384": Sha384Key, "sha512": Sha512Key}
# gufo's AES-192/256 with `KeyExpansion.Blumenthal` is net-snmp's AES-256, Cisco's is the Reeder
# extension (our `aes256c`).
_PRIV_KEYS = {"des": (DesKey, KeyExpansion.Blumenthal), "aes": (Aes128Key, KeyExpansion.Blumenthal),
              "aes128": (Aes128Key, KeyExpansion.Blumenthal), "aes192": (Aes192Key, KeyExpansion.Blumenthal),
              "aes256": (Aes256Key, KeyExpansion.Blumenthal), "aes192c": (Aes192Key, KeyExpansion.Cisco),
              "aes256c": (Aes256Key, KeyExpansion.Cisco)}


def needs_pysnmp(target: SnmpTargetSettings) -> str | None:
    """Why gufo-snmp cannot serve `target`, or None when it can."""
    if target.version == 3 and target.context:
        return "SNMPv3 context names"
    if target.version == 3 and target.priv_protocol not in _PRIV_KEYS and target.priv_protocol != "none":
        return f"privacy protocol {target.priv_protocol}"
    return None


def _user(target: SnmpTargetSettings) -> User:
    auth = None
    priv = None
    expansion = KeyExpansion.Blumenthal
    if target.auth_protocol != "none" and target.auth_key is not None:
        auth = _AUTH_KEYS[target.auth_protocol](target.auth_key.get_secret_value().encode())
    if target.priv_protocol != "none" and target.priv_key is not None:
        cls, expansion = _PRIV_KEYS[target.priv_protocol]
        priv = cls(target.priv_key.get_secret_value().encode())
    return User(target.user or "", auth_key=auth, priv_key=priv, key_expansion=expansion)


def _varbind(oid: str, value: object) -> Varbind:
    if isinstance(value, bool):  # never sent by gufo; keeps the int branch honest
        value = int(value)
    if isinstance(value, int):
        return Varbind(oid, UNTYPED_INT, value)
    if isinstance(value, bytes):
        return Varbind(oid, "OctetString", value)
    if isinstance(value, str):
        # gufo returns OIDs and IP addresses as str; tell them apart as pysnmp does.
        syntax = "IpAddress" if value.count(".") == 3 and not value.startswith("1.3.") else "ObjectIdentifier"
        return Varbind(oid, syntax, value)
    if isinstance(value, float):
        return Varbind(oid, "Opaque", str(value))
    return Varbind(oid, "NoSuchObject", None)


class GufoSession:
    """One device over one gufo-snmp socket; see the module docstring for its limits."""

    def __init__(self, target: SnmpTargetSettings, timeout: float, max_repetitions: int):
        self.target = target
        self.timeout = timeout
        self._lock = asyncio.Lock()
        self._session: GufoAioSession | None = None
        self._refreshed = False
        self._last_ok = time.monotonic()
        self._max_repetitions = max_repetitions
        # column root -> (its GetIter, the last OID it returned): lets a retry resume.
        self._iters: dict[str, tuple[GetIter, str]] = {}

    def _open(self) -> GufoAioSession:
        if self._session is None:
            t = self.target
            version = {1: SnmpVersion.v1, 2: SnmpVersion.v2c, 3: SnmpVersion.v3}[t.version]
            try:
                if t.version == 3:
                    self._session = GufoAioSession(t.host, port=t.port, version=version, user=_user(t),
                                                   timeout=self.timeout, max_repetitions=self._max_repetitions)
                else:
                    community = t.community.get_secret_value() if t.community else "public"
                    self._session = GufoAioSession(t.host, port=t.port, version=version, community=community,
                                                   timeout=self.timeout, max_repetitions=self._max_repetitions)
            except (OSError, ValueError) as exc:
                raise SnmpError("transport", f"cannot resolve or reach {t.host}: {type(exc).__name__}") from None
        return self._session

    def _reopen(self) -> GufoAioSession:
        """A new socket and engine discovery: recovers a changed engine ID (a replaced card) as
        well as new engine boots/time."""
        self._session = None
        self._refreshed = False
        return self._open()

    async def _call(self, request: object) -> object:
        """Run one request (a coroutine factory) under the session lock, mapping errors.

        SNMPv3: gufo learns the agent's engine boots/time once. Past the 150 s window (an idle
        session, a 5-minute poll interval) or after an agent restart, net-snmp answers with a
        notInTimeWindow REPORT that gufo does not surface: the request times out, or fails
        authentication. So: refresh before a request when idle for over `REFRESH_AFTER_S`, and
        on a timeout or an authentication failure refresh and retry once."""
        async with self._lock:
            session = self._open()
            v3 = self.target.version == 3
            if v3 and time.monotonic() - self._last_ok > REFRESH_AFTER_S:
                self._refreshed = False
            for attempt in (1, 2):
                refreshed_now = False
                try:
                    if not self._refreshed:
                        refreshed_now = True
                        await session.refresh()  # SNMPv3: engine ID, boots and time
                        self._refreshed = True
                    result = await request(session)  # type: ignore[operator]
                    self._last_ok = time.monotonic()
                    return result
                except SnmpAuthError:
                    if attempt == 1 and v3:
                        session = self._reopen()
                        continue
                    raise SnmpError("auth", "authentication failed (check user, auth_key/auth_protocol, "
                                            "priv_key/priv_protocol)") from None
                except TimeoutError as exc:
                    if "refused" in str(exc.__cause__ or exc.__context__ or ""):
                        # gufo's connected socket saw ICMP port unreachable: nothing listens.
                        raise SnmpError("transport", "the device refused the request (ICMP port unreachable): "
                                                     "no SNMP agent on that host and port") from None
                    if attempt == 1 and v3 and not refreshed_now:
                        session = self._reopen()  # maybe out of the time window: rediscover, retry once
                        continue
                    self._refreshed = False if v3 else self._refreshed
                    raise SnmpError("timeout", TIMEOUT_MESSAGE) from None
                except SnmpDecodeError:
                    raise SnmpError("malformed", "the device sent an answer that cannot be decoded") from None
                except SnmpEncodeError:
                    raise SnmpError("config", "cannot encode the request (check the OIDs)") from None
                except NoSuchInstance:
                    return None
                except GufoError as exc:
                    raise SnmpError("pdu_error", f"SNMP error: {type(exc).__name__}") from None
                except OSError as exc:
                    raise SnmpError("transport", f"cannot reach {self.target.host}: {type(exc).__name__}") from None
            raise SnmpError("auth", "authentication failed")

    async def get(self, oids: Sequence[str]) -> list[Varbind]:
        wanted = list(oids)
        got = await self._call(lambda s: s.get_many(wanted))
        answered = got if isinstance(got, dict) else {}
        if self.target.version == 1 and not answered and len(wanted) > 1:
            # v1 noSuchName: gufo drops the whole answer; ask halves to find the missing ones.
            half = len(wanted) // 2
            return [*await self.get(wanted[:half]), *await self.get(wanted[half:])]
        return [_varbind(o, answered[o]) if o in answered else Varbind(o, "NoSuchObject", None) for o in wanted]

    async def bulk(self, root: str, after: str, repetitions: int) -> list[Varbind]:
        kept = self._iters.get(root)
        if kept is None or kept[1] != after:
            # gufo's GetIter(root) both starts at and stays under root: a fresh walk of the
            # column. A retry passes the same `after` and reuses the iterator, which resumes.
            if after != root:
                raise SnmpError("config", "a gufo column walk can only resume from its own last OID")
            kept = (GetIter(root, None if self.target.version == 1 else repetitions), root)
            self._iters[root] = kept
        ctx = kept[0]

        async def one(session: GufoAioSession) -> list[Varbind]:
            sock = session._sock
            if self.target.version == 1:
                await session._send(lambda: sock.send_get_next(ctx))
                try:
                    oid, value = await session._recv(lambda: sock.recv_get_next(ctx))
                except StopAsyncIteration:
                    return [Varbind(root, "EndOfMibView", None)]
                return [_varbind(oid, value)]
            await session._send(lambda: sock.send_get_bulk(ctx))
            try:
                rows = await session._recv(lambda: sock.recv_get_bulk(ctx))
            except StopAsyncIteration:  # gufo's "the column (or the view) ended"
                return [Varbind(root, "EndOfMibView", None)]
            out: list[Varbind] = []
            for item in rows:
                if item is None:  # gufo's end of the column (left root, or endOfMibView)
                    out.append(Varbind(root, "EndOfMibView", None))
                    break
                out.append(_varbind(item[0], item[1]))
            if not out:
                out.append(Varbind(root, "EndOfMibView", None))
            return out

        result = await self._call(one)
        assert isinstance(result, list)
        if result and not result[-1].absent:
            self._iters[root] = (ctx, result[-1].oid)
        else:
            self._iters.pop(root, None)
        return result

    async def get_next(self, oids: Sequence[str]) -> list[Varbind]:
        """One GETNEXT per OID: gufo's socket sends a single-varbind GETNEXT through a `GetIter`,
        which also ends (EndOfMibView here) when the successor leaves the OID's subtree -- what
        discovery asks anyway. On SNMPv1 the end of the MIB reads the same way."""
        out: list[Varbind] = []
        for oid in oids:
            ctx = GetIter(oid, None)

            async def one(session: GufoAioSession, ctx: GetIter = ctx, oid: str = oid) -> Varbind:
                sock = session._sock
                await session._send(lambda: sock.send_get_next(ctx))
                try:
                    got, value = await session._recv(lambda: sock.recv_get_next(ctx))
                except StopAsyncIteration:
                    return Varbind(oid, "EndOfMibView", None)
                return _varbind(got, value)

            result = await self._call(one)
            out.append(result if isinstance(result, Varbind) else Varbind(oid, "EndOfMibView", None))
        return out

    async def close(self) -> None:
        """Drop the socket (gufo closes it when the session object goes)."""
        self._session = None
        self._iters.clear()
