"""pysnmp 7 backend (`snmp.backend: pysnmp`): the reference implementation, kept for the
differential test and for what gufo-snmp lacks (SNMPv3 context names, 3DES).

pysnmp keeps its transport, SNMPv3 engine-ID cache and USM users in an `SnmpEngine`; the
`SnmpClient` creates one per process on first use (importing pysnmp costs ~15 MB, so an agent on
gufo never pays it) and every session shares it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
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

from sentinelle.collectors.snmp.settings import SnmpTargetSettings
from sentinelle.collectors.snmp.transport import (
    ABSENT_SYNTAXES,
    TIMEOUT_MESSAGE,
    PduError,
    SnmpError,
    Varbind,
)

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

# Fixed messages per pysnmp error indication; pysnmp's own texts are not shown as they could
# (in other code paths) carry request details.
_INDICATION_MESSAGES: tuple[tuple[type[errind.ErrorIndication], str, str], ...] = (
    (errind.RequestTimedOut, "timeout", TIMEOUT_MESSAGE),
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


class PysnmpEngine:
    """The process's pysnmp `SnmpEngine`, closed with the `SnmpClient`."""

    def __init__(self) -> None:
        self.engine = SnmpEngine()

    def session(self, target: SnmpTargetSettings, timeout: float) -> PysnmpSession:
        return PysnmpSession(self, target, timeout)

    def close(self) -> None:
        try:
            self.engine.close_dispatcher()
        except Exception:  # noqa: BLE001 - nothing useful to do on a failed close
            pass


class PysnmpSession:
    """One device over pysnmp. pysnmp does no retries here (`retries=0`): the collector's
    retry loop in client.py is the same for both backends."""

    def __init__(self, engine: PysnmpEngine, target: SnmpTargetSettings, timeout: float):
        self._engine = engine
        self.target = target
        self.timeout = timeout
        self._auth = self._auth_data(target)
        self._context = ContextData(contextName=target.context.encode()) if target.context else ContextData()
        self._transport: UdpTransportTarget | Udp6TransportTarget | None = None

    @staticmethod
    def _auth_data(target: SnmpTargetSettings) -> CommunityData | UsmUserData:
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

    async def _transport_target(self) -> UdpTransportTarget | Udp6TransportTarget:
        if self._transport is None:
            try:
                # An IPv6 literal (has colons) needs pysnmp's UDP/IPv6 transport.
                kind = Udp6TransportTarget if ":" in self.target.host else UdpTransportTarget
                self._transport = await kind.create(
                    (self.target.host.strip("[]"), self.target.port), timeout=self.timeout, retries=0
                )
            except Exception as exc:  # noqa: BLE001 - DNS and socket errors
                raise SnmpError("transport", f"cannot resolve or reach {self.target.host}: {type(exc).__name__}") from None
        return self._transport

    async def _request(self, fn: Any, *args: Any) -> list[Varbind]:
        transport = await self._transport_target()
        try:
            # pysnmp enforces the timeout itself; the outer bound is a safety net against a
            # lost callback.
            indication, status, index, varbinds = await asyncio.wait_for(
                fn(self._engine.engine, self._auth, transport, self._context, *args, lookupMib=False),
                self.timeout + 2.0,
            )
        except TimeoutError:
            raise SnmpError("timeout", TIMEOUT_MESSAGE) from None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - pysnmp raises PySnmpError on bad input
            raise SnmpError("transport", f"SNMP request failed: {type(exc).__name__}") from None
        if indication:
            raise describe_indication(indication)
        if status:
            raise PduError(int(status), int(index))
        return [_convert(vb[0], vb[1]) for vb in varbinds]

    async def get(self, oids: Sequence[str]) -> list[Varbind]:
        return await self._request(get_cmd, *[ObjectType(ObjectIdentity(o)) for o in oids])

    async def bulk(self, root: str, after: str, repetitions: int) -> list[Varbind]:
        if self.target.version == 1:
            try:
                return await self._request(next_cmd, ObjectType(ObjectIdentity(after)))
            except PduError as err:
                if err.status == 2:  # v1 noSuchName on GETNEXT: the end of the MIB view
                    return [Varbind(after, "EndOfMibView", None)]
                raise
        return await self._request(bulk_cmd, 0, repetitions, ObjectType(ObjectIdentity(after)))

    async def get_next(self, oids: Sequence[str]) -> list[Varbind]:
        return await self._request(next_cmd, *[ObjectType(ObjectIdentity(o)) for o in oids])

    async def close(self) -> None:
        """The transport belongs to the shared engine: nothing per session to close."""
