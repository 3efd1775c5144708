"""Ports on 127.0.0.1: free ones to hand a server, and who holds one (Linux /proc)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

HOST = "127.0.0.1"


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        pass
    return inodes


def tcp_listener_owner(port: int, pid: int) -> str:
    """Who listens on 127.0.0.1:port (TCP): ``"us"`` (``pid``), ``"other"`` or ``"none"``."""
    want = (f"0100007F:{port:04X}", f"00000000:{port:04X}")
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return "us" if tcp_open(port) else "none"  # no /proc: trust a connect
    holders = {f[9] for f in (ln.split() for ln in lines) if f[1] in want and f[3] == "0A"}
    if not holders:
        return "none"
    return "us" if holders & _socket_inodes(pid) else "other"


def udp_port_held_by_other(port: int, pid: int) -> bool:
    """True if 127.0.0.1:port (UDP) is bound by a socket that is not ``pid``'s (Linux /proc)."""
    want = f"0100007F:{port:04X}"
    try:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return False
    holders = [ln.split()[9] for ln in lines if ln.split()[1] == want]
    return bool(holders) and not (set(holders) & _socket_inodes(pid))


def free_tcp_port() -> int:
    """A TCP port the kernel considers free right now on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def free_udp_port() -> int:
    """A UDP port the kernel considers free right now on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def free_tcp_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports (sockets held open together so they differ)."""
    return _free_ports(n, socket.SOCK_STREAM)


def free_udp_ports(n: int) -> list[int]:
    """``n`` distinct free UDP ports (sockets held open together so they differ)."""
    return _free_ports(n, socket.SOCK_DGRAM)


def _free_ports(n: int, kind: socket.SocketKind) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, kind)
            s.bind((HOST, 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def tcp_open(port: int, host: str = HOST, timeout: float = 0.2) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
