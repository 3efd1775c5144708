"""SNMP requests for the collector: batched GETs, per-column GETBULK walks, retries, the global
in-flight bound, over one of two backends (collectors/snmp/transport/).

Why a class and not module functions: the runtime creates one `SnmpClient` per process and hands
it to every device; it owns what is shared (the in-flight semaphore, pysnmp's engine when a
device uses pysnmp) and tests want a fresh one each.

Every request goes through one semaphore (`max_in_flight`, default 50) because UDP on a busy
loopback or a small router drops datagrams above that, which would look like device timeouts.
Retries are done here, for both backends: a timed-out walk step is asked again from the last
OID received, so a lost datagram costs one request, not the column.
Error messages never contain a community or a key: they are built from fixed texts only.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from sentinelle.collectors.snmp.settings import SnmpSettings, SnmpTargetSettings
from sentinelle.collectors.snmp.transport import (
    ABSENT_SYNTAXES,
    UNTYPED_INT,
    BackendSession,
    PduError,
    SnmpError,
    Varbind,
    oid_tuple,
)

if TYPE_CHECKING:
    from sentinelle.collectors.snmp.transport.pysnmp import PysnmpEngine

__all__ = ["ABSENT_SYNTAXES", "UNTYPED_INT", "SnmpClient", "SnmpError", "SnmpSession", "Varbind"]

log = logging.getLogger("sentinelle.collectors.snmp")

# OIDs per GET PDU: ~30 keeps a response well under 1472 bytes for typical values.
GET_CHUNK = 30
# A table longer than this per column is a loop or a broken agent, not data.
MAX_ROWS_PER_COLUMN = 20_000


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _raise_fd_limit() -> None:
    """gufo-snmp keeps one UDP socket per device: lift the soft file limit to the hard one so a
    fleet of 1,000+ devices fits (docs/scaling.md)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass


class SnmpClient:
    """The process's SNMP side: backend choice per device, shared pysnmp engine, the global
    in-flight bound. Use as `async with SnmpClient(settings) as client:`;
    `client.session(target)` gives a device's session. `requests` counts PDUs sent."""

    def __init__(self, settings: SnmpSettings | None = None):
        self.settings = settings or SnmpSettings()
        self._in_flight = asyncio.Semaphore(self.settings.max_in_flight)
        self._pysnmp: PysnmpEngine | None = None
        self.requests = 0
        _raise_fd_limit()

    async def __aenter__(self) -> SnmpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pysnmp engine's transport (idempotent). gufo sockets close with their
        sessions, which belong to the devices."""
        if self._pysnmp is not None:
            self._pysnmp.close()
            self._pysnmp = None

    def backend_for(self, target: SnmpTargetSettings) -> str:
        """`gufo` or `pysnmp`: the device's `backend:`, else `snmp.backend`; gufo-snmp falls back
        to pysnmp for what it cannot do (SNMPv3 context names, 3DES)."""
        name = target.backend or self.settings.backend
        if name == "gufo":
            from sentinelle.collectors.snmp.transport.gufo import needs_pysnmp

            if needs_pysnmp(target):
                return "pysnmp"
        return name

    def _backend_session(self, target: SnmpTargetSettings, timeout: float, max_repetitions: int) -> BackendSession:
        if self.backend_for(target) == "gufo":
            from sentinelle.collectors.snmp.transport.gufo import GufoSession

            return GufoSession(target, timeout, max_repetitions)
        if self._pysnmp is None:
            from sentinelle.collectors.snmp.transport.pysnmp import PysnmpEngine

            self._pysnmp = PysnmpEngine()
        return self._pysnmp.session(target, timeout)

    def session(self, target: SnmpTargetSettings) -> SnmpSession:
        return SnmpSession(self, target)


class SnmpSession:
    """Requests to one device with its credentials, timeout, retries and max-repetitions.
    Requests of one session run one at a time (gufo-snmp needs it; a device answers one
    poller's requests in order anyway)."""

    def __init__(self, client: SnmpClient, target: SnmpTargetSettings):
        self.client = client
        self.target = target
        settings = client.settings
        self.timeout = target.timeout if target.timeout is not None else settings.timeout
        self.retries = target.retries if target.retries is not None else settings.retries
        self.max_repetitions = target.max_repetitions or settings.max_repetitions
        self.backend_name = client.backend_for(target)
        self._backend: BackendSession | None = None
        self._serial = asyncio.Lock()

    @property
    def max_wait_s(self) -> float:
        """Longest one request can take before it is given up (all retries)."""
        return self.timeout * (self.retries + 1)

    def _transport(self) -> BackendSession:
        if self._backend is None:
            self._backend = self.client._backend_session(self.target, self.timeout, self.max_repetitions)
        return self._backend

    async def _with_retries(self, call: object) -> list[Varbind]:
        """One request, retried on timeout (the only error a retry can fix)."""
        for attempt in range(self.retries + 1):
            async with self._serial, self.client._in_flight:
                self.client.requests += 1
                try:
                    return await call()  # type: ignore[operator,no-any-return]
                except SnmpError as err:
                    if err.kind == "auth" and self.backend_name == "gufo":
                        raise await self._name_auth_error(err) from None
                    if err.kind != "timeout" or attempt == self.retries:
                        raise
        raise AssertionError("unreachable")

    def _reference(self) -> BackendSession:
        """A pysnmp session to the same device, for what gufo-snmp cannot say (the shared
        engine is created on first use)."""
        if self.client._pysnmp is None:
            from sentinelle.collectors.snmp.transport.pysnmp import PysnmpEngine

            self.client._pysnmp = PysnmpEngine()
        return self.client._pysnmp.session(self.target, self.timeout)

    async def name_absent(self, answers: dict[str, Varbind]) -> dict[str, Varbind]:
        """`answers` with each absent object named exactly (noSuchObject vs noSuchInstance).
        gufo-snmp reports both as NoSuchObject; `probe` must tell a technician which (the
        object is not implemented vs that instance does not exist), so on gufo the absent OIDs
        alone are asked again through pysnmp. Other backends already name them."""
        if self.backend_name != "gufo":
            return answers
        absent = [o for o, vb in answers.items() if vb.syntax == "NoSuchObject"]
        if not absent:
            return answers
        reference = self._reference()
        out = dict(answers)
        for chunk in _chunks(absent, GET_CHUNK):
            try:
                got = await self._with_retries(lambda c=chunk: reference.get(list(c)))  # type: ignore[misc]
            except SnmpError:
                return out  # no second opinion: keep what gufo said
            for want, vb in zip(chunk, got, strict=False):
                if vb.absent:  # only the name of the absence changes, never an answer
                    out[want] = Varbind(want, vb.syntax, None)
        return out

    async def _name_auth_error(self, err: SnmpError) -> SnmpError:
        """gufo-snmp says only "authentication failed"; pysnmp reads the agent's REPORT
        (unknown user, wrong digest, decryption, time window...). Asked once, on failure only,
        so a technician is told which key or name to fix."""
        reference = self._reference()
        try:
            await reference.get(["1.3.6.1.2.1.1.3.0"])
        except SnmpError as named:
            # A timeout of the second opinion says nothing about the credentials.
            return err if named.kind == "timeout" else named
        return err

    async def get(self, oids: Sequence[str]) -> dict[str, Varbind]:
        """GET many OIDs (chunked into PDUs of ~30). Objects the device lacks come back as
        absent `Varbind`s, never as errors; SNMPv1 `noSuchName` is handled the same way."""
        out: dict[str, Varbind] = {}
        for chunk in _chunks(list(dict.fromkeys(oids)), GET_CHUNK):
            await self._get_chunk(list(chunk), out)
        return out

    async def _get_chunk(self, oids: list[str], out: dict[str, Varbind]) -> None:
        transport = self._transport()
        pending = list(oids)
        while pending:
            try:
                got = await self._with_retries(lambda: transport.get(pending))
            except PduError as err:
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
            for want in pending[len(got) :]:  # a short answer: the rest was not answered
                out[want] = Varbind(want, "NoSuchObject", None)
            return

    async def get_next(self, oids: Sequence[str]) -> dict[str, Varbind]:
        """GETNEXT per OID (chunked like `get`): `{asked: next varbind}`. Used by profile
        discovery to ask "do you have anything under this table root?" at the cost of one
        varbind. The end of the MIB (SNMPv1 noSuchName, or, on gufo-snmp, a successor outside
        the asked subtree) gives an EndOfMibView varbind: either way nothing lies under it."""
        transport = self._transport()
        out: dict[str, Varbind] = {}
        # gufo-snmp's GETNEXT carries one varbind: one request (counted, retried) per OID.
        size = 1 if self.backend_name == "gufo" else GET_CHUNK
        for chunk in _chunks(list(dict.fromkeys(oids)), size):
            pending = list(chunk)
            while pending:
                try:
                    got = await self._with_retries(lambda p=pending: transport.get_next(p))  # type: ignore[misc]
                except PduError as err:
                    if err.status == 2 and 1 <= err.index <= len(pending):  # noSuchName (SNMPv1)
                        gone = pending.pop(err.index - 1)
                        out[gone] = Varbind(gone, "EndOfMibView", None)
                        continue
                    raise SnmpError("pdu_error", f"the device answered with error status {err.name}") from None
                out.update(zip(pending, got, strict=False))
                break
        return out

    async def walk(self, roots: Sequence[str]) -> dict[str, dict[str, Varbind]]:
        """Walk table columns: `{root: {index: Varbind}}` where index is the OID suffix after
        the root (e.g. `"1"` or `"1.4"`). Each column is walked on its own (see
        collectors/snmp/transport/__init__.py for why), so the result for every column is what
        a per-column `snmpbulkwalk` returns. A column the device lacks gives an empty dict."""
        result: dict[str, dict[str, Varbind]] = {}
        for root in dict.fromkeys(roots):
            result[root] = await self.walk_column(root)
        return result

    async def walk_column(self, root: str) -> dict[str, Varbind]:
        """One column, GETBULK after GETBULK (GETNEXT on v1), until it leaves the column, hits
        endOfMibView, or the agent stops increasing (a broken agent: what was read is kept,
        as snmpbulkwalk does). A response may be truncated (fewer rows than asked): the next
        request starts after its last row. tooBig lowers max-repetitions down to 1."""
        transport = self._transport()
        if root.startswith(".") or ".." in root:
            root = ".".join(map(str, oid_tuple(root)))  # canonical text: no leading dot
        root_dot = root + "."
        start = len(root_dot)
        rows: dict[str, Varbind] = {}
        cursor: str = root
        last: tuple[int, ...] = ()
        reps = self.max_repetitions
        while True:
            try:
                got = await self._with_retries(lambda c=cursor, r=reps: transport.bulk(root, c, r))  # type: ignore[misc]
            except PduError as err:
                if err.status == 1 and reps > 1:
                    reps = max(1, reps // 2)
                    continue
                if err.status == 2 and self.target.version == 1:  # v1 noSuchName: end of view
                    return rows
                raise
            except SnmpError as err:
                # gufo-snmp reports an error-status without naming it: a smaller answer is the
                # one thing worth trying (tooBig), as for pysnmp's named tooBig above.
                if err.kind == "pdu_error" and reps > 1:
                    reps = max(1, reps // 2)
                    continue
                raise
            if not got:
                return rows
            for vb in got:
                # Only the index after the column is parsed (one or two sub-identifiers for
                # most tables), not the whole OID of every value.
                text = vb.oid
                if vb.syntax == "EndOfMibView" or not text.startswith(root_dot):
                    return rows
                index = text[start:]
                key = tuple(map(int, index.split(".")))
                if key <= last:  # not increasing: a broken agent, stop rather than loop
                    log.warning("SNMP agent %s: OID not increasing in walk of %s", self.target.host, root)
                    return rows
                last = key
                if vb.syntax in ABSENT_SYNTAXES:
                    return rows
                rows[index] = vb
                if len(rows) >= MAX_ROWS_PER_COLUMN:
                    return rows
            cursor = got[-1].oid

    async def close(self) -> None:
        if self._backend is not None:
            await self._backend.close()
            self._backend = None
