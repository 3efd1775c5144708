"""What every SNMP backend hands the collector: `Varbind`s, `SnmpError`s by name, and the two
requests a poll needs (GET a list of OIDs, walk one column a step at a time), plus the GETNEXT
profile discovery asks once a day.

Why a column at a time: a walk must return, for every column, exactly what a per-column
`snmpbulkwalk` returns. Multi-column GETBULK looked cheaper but real agents get it wrong: net-snmp
5.9 with a VACM view hiding rows answers a 3-column GETBULK with rows out of order and skipped
(issue 13), and no check on the answer can tell a skipped row from a missing one. snmp_exporter
walks one subtree per request for the same reason, so the request count stays that of the
reference poller.

Backends (`pysnmp.py`, `gufo.py`) implement `BackendSession`; `collectors/snmp/client.py` adds what
is common: the in-flight bound, retries, chunking, the walk's ordering and end checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

ABSENT_SYNTAXES = frozenset({"NoSuchObject", "NoSuchInstance", "EndOfMibView"})
# gufo-snmp returns plain ints without their SMI type: counter width and TimeTicks semantics then
# come from the profile (`bits:` on counter fields), never from a guess.
UNTYPED_INT = "Integer?"


@dataclass(frozen=True, slots=True)
class Varbind:
    """One answered OID. `syntax` is the SMI type name (`Counter64`, `OctetString`,
    `TimeTicks`, `NoSuchObject`..., or `UNTYPED_INT` when the backend does not say); `value` is
    int, bytes, str (OIDs, IP addresses) or None when the device does not have the object."""

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
    unknown_community, pdu_error, too_big, malformed, transport, config."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


TIMEOUT_MESSAGE = "no answer (timeout): check host, port, community/user and ACLs"


class PduError(SnmpError):
    """The device answered with a non-zero error-status (v1 noSuchName, tooBig, genErr...)."""

    NAMES = {1: "tooBig", 2: "noSuchName", 3: "badValue", 4: "readOnly", 5: "genErr",
             6: "noAccess", 16: "authorizationError"}

    def __init__(self, status: int, index: int):
        self.status = status
        self.index = index
        self.name = self.NAMES.get(status, str(status))
        super().__init__("too_big" if status == 1 else "pdu_error",
                         f"the device answered with error status {self.name}")


class BackendSession(Protocol):
    """One device's transport. Requests on one session are issued one at a time by the caller."""

    async def get(self, oids: Sequence[str]) -> list[Varbind]:
        """GET `oids` in one PDU; absent objects as absent `Varbind`s, in request order."""
        ...

    async def bulk(self, root: str, after: str, repetitions: int) -> list[Varbind]:
        """The successors of `after` under column `root` (GETBULK with one varbind, GETNEXT on
        v1), as the device sent them: they may leave `root`, stop short, or end with
        EndOfMibView. Called again with the same `after` after a timeout (the retry)."""
        ...

    async def get_next(self, oids: Sequence[str]) -> list[Varbind]:
        """The successor of each of `oids` (GETNEXT), in request order. Where nothing follows
        under an OID the answer may be an EndOfMibView varbind (gufo-snmp stops at the subtree)
        or the next OID outside it (pysnmp): callers check the answered OID against their root."""
        ...

    async def close(self) -> None: ...


def oid_tuple(oid: str) -> tuple[int, ...]:
    return tuple(int(x) for x in oid.strip(".").split("."))
