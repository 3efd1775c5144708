"""SNMP from the test side: net-snmp's ``snmpget`` and a raw v2c GET (a small BER encoder) to
probe many endpoints from one socket.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Sequence

from tests.support.ports import HOST
from tests.support.process import find_binary


def snmpget(
    port: int,
    oids: Sequence[str],
    *,
    community: str | None = "public",
    v3: dict[str, str] | None = None,
    host: str = HOST,
    timeout: float = 1.0,
    retries: int = 0,
    extra: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run net-snmp ``snmpget -On -Oe`` (numeric OIDs); v3 is a dict of -u/-l/-a/-A/-x/-X."""
    exe = find_binary("snmpget", "snmp")
    argv = [exe, "-On", "-t", str(timeout), "-r", str(retries), "-M", "", "-m", ""]
    if v3 is not None:
        argv += ["-v3"]
        flag = {
            "user": "-u",
            "level": "-l",
            "auth_protocol": "-a",
            "auth_key": "-A",
            "priv_protocol": "-x",
            "priv_key": "-X",
            "context": "-n",
        }
        for k, v in v3.items():
            argv += [flag[k], v]
    else:
        argv += ["-v2c", "-c", community or "public"]
    argv += list(extra) + [f"udp:{host}:{port}", *oids]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout * (retries + 1) + 10)


def _ber(tag: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 0x80:
        return bytes([tag, n]) + payload
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(ln)]) + ln + payload


def _ber_int(v: int) -> bytes:
    return _ber(0x02, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=True))


def _ber_oid(oid: str) -> bytes:
    parts = [int(x) for x in oid.strip(".").split(".")]
    out = bytearray([40 * parts[0] + parts[1]])
    for sub in parts[2:]:
        chunk = [sub & 0x7F]
        sub >>= 7
        while sub:
            chunk.append(0x80 | (sub & 0x7F))
            sub >>= 7
        out += bytes(reversed(chunk))
    return _ber(0x06, bytes(out))


def snmp_v2c_get_packet(community: str, oid: str, request_id: int = 1) -> bytes:
    """A raw SNMPv2c GetRequest datagram (to probe many endpoints from one socket)."""
    varbind = _ber(0x30, _ber(0x30, _ber_oid(oid) + b"\x05\x00"))
    pdu = _ber(0xA0, _ber_int(request_id) + _ber_int(0) + _ber_int(0) + varbind)
    return _ber(0x30, _ber_int(1) + _ber(0x04, community.encode()) + pdu)


def udp_snmp_probe(ports: Sequence[int], community: str, timeout: float = 0.5) -> set[int]:
    """Ports among ``ports`` that answer a v2c GET of sysObjectID within ``timeout``."""
    pkt = snmp_v2c_get_packet(community, "1.3.6.1.2.1.1.2.0")
    answered: set[int] = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        for p in ports:
            sock.sendto(pkt, (HOST, p))
        deadline = time.monotonic() + timeout
        while len(answered) < len(ports):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                _data, (_h, port) = sock.recvfrom(65535)
            except (TimeoutError, ConnectionRefusedError):
                continue
            answered.add(port)
    return answered
