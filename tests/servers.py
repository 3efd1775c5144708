"""Real servers for tests, run as subprocesses on 127.0.0.1 (DESIGN.md section 9).

Each class owns a work directory and its ports from construction on, so ``stop()`` then
``start()`` brings the same server back on the same port with the same data: that is
how the sink-outage tests simulate a crash or a maintenance window.

A missing binary raises :class:`ServerError` naming the Debian package: in CI a missing
server is a failure, never a skip.
"""

from __future__ import annotations

import asyncio
import atexit
import datetime as _dt
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
VENV_BIN = Path(sys.executable).parent

_LIVE: weakref.WeakSet[_Server] = weakref.WeakSet()


class ServerError(RuntimeError):
    """A test server could not be found, started or queried."""


class PortInUse(ServerError):
    """Our port is held by another process (detected when the server does not say so)."""


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


def find_binary(name: str, package: str, extra_dirs: Iterable[Path | str] = ()) -> str:
    """Absolute path of ``name`` or a ServerError telling which package to install."""
    for d in extra_dirs:
        cand = Path(d) / name
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    path = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if path is None:
        raise ServerError(
            f"{name!r} not found: install the {package!r} package "
            f"(apt-get install {package}, or see .ci/run). A missing server is a failure, not a skip."
        )
    return path


def tcp_open(port: int, host: str = HOST, timeout: float = 0.2) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http(
    method: str,
    url: str,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    """Tiny blocking HTTP client for test setup; returns (status, body) even for 4xx/5xx."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL the server if the test process dies (Linux PR_SET_PDEATHSIG)."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort only
        pass


class _Server:
    """Subprocess lifecycle: start with bounded readiness wait, graceful stop, restart."""

    name = "server"
    package = "?"
    startup_timeout = 30.0
    stop_signal = signal.SIGTERM

    def __init__(self, workdir: str | Path | None = None) -> None:
        if workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"sentinelle-{self.name}-"))
            self._own_workdir = True
        else:
            self.workdir = Path(workdir)
            self.workdir.mkdir(parents=True, exist_ok=True)
            self._own_workdir = False
        self.host = HOST
        self.log_path = self.workdir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._ever_started = False
        _LIVE.add(self)

    def _allocate_ports(self) -> None:
        """Pick free ports and set ``port``/``url`` etc. (again after a port clash)."""
        raise NotImplementedError

    # -- to override -------------------------------------------------------------------
    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _env(self) -> dict[str, str]:
        return dict(os.environ)

    def _prepare(self) -> None:
        """Write config files etc. before each start."""

    def _ready(self) -> bool:
        raise NotImplementedError

    def _listening(self, *ports: int) -> bool:
        """Our process (not a stranger) listens on every TCP port; raise PortInUse if stolen."""
        assert self.proc is not None
        for port in ports:
            owner = tcp_listener_owner(port, self.proc.pid)
            if owner == "other":
                raise PortInUse(f"TCP port {port} is held by another process")
            if owner == "none":
                return False
        return True

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.running and self.proc else None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    _PORT_CLASH = (
        "address already in use",
        "error opening specified endpoint",
        "address in use",
        "only one usage of each socket address",
    )

    def start(self) -> _Server:
        """Start and block until the server really answers (or raise with the log tail).

        On the very first start a port grabbed by someone else between our probe and the
        server's bind is retried on fresh ports; later starts keep the same ports.
        """
        if self.running:
            return self
        for attempt in range(3):
            mark = self.log_path.stat().st_size if self.log_path.exists() else 0
            try:
                self._start_once()
                self._ever_started = True
                return self
            except ServerError as e:
                if self._ever_started or attempt == 2:
                    raise
                if not self.log_path.exists():  # failed before launching (binary missing)
                    raise
                with open(self.log_path, "rb") as f:
                    f.seek(mark)
                    new_log = f.read().decode(errors="replace").lower()
                if not isinstance(e, PortInUse) and not any(m in new_log for m in self._PORT_CLASH):
                    raise
                self._allocate_ports()
        return self

    async def astart(self) -> _Server:
        """``start()`` in a worker thread, so an agent running in the event loop keeps going."""
        await asyncio.to_thread(self.start)
        return self

    async def astop(self) -> None:
        """``stop()`` in a worker thread."""
        await asyncio.to_thread(self.stop)

    async def arestart(self) -> _Server:
        await self.astop()
        return await self.astart()

    def _start_once(self) -> None:
        argv = self._argv()
        self._prepare()
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== start {time.strftime('%H:%M:%S')}: {' '.join(argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env(),
                cwd=self.workdir,
                start_new_session=True,  # our signals only, not the terminal's Ctrl-C
                # PDEATHSIG fires when the *forking thread* exits, so only arm it from the main
                # thread (a server started via asyncio.to_thread would die with the worker).
                preexec_fn=_die_with_parent
                if threading.current_thread() is threading.main_thread()
                else None,
            )
        deadline = time.monotonic() + self.startup_timeout
        delay = 0.02
        while True:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                raise ServerError(
                    f"{self.name} exited with {rc} during startup; log tail:\n{self.log_tail()}"
                )
            try:
                if self._ready():
                    return
            except PortInUse as e:
                self.stop()
                with open(self.log_path, "ab") as log:
                    log.write(f"=== {e} (address already in use)\n".encode())
                raise
            except Exception:  # noqa: BLE001 - not ready yet, whatever the reason
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(
                    f"{self.name} not ready after {self.startup_timeout:.0f}s; log tail:\n{self.log_tail()}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop (SIGTERM), then SIGKILL after ``timeout``; always reaps."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.send_signal(self.stop_signal)
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        with open(self.log_path, "ab") as log:
            log.write(f"=== stopped rc={proc.returncode} {time.strftime('%H:%M:%S')}\n".encode())

    def kill(self) -> None:
        """Crash it (SIGKILL, no graceful shutdown) - for outage tests."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    def restart(self) -> _Server:
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        """Stop and remove the work dir if we created it."""
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> _Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {getattr(self, 'url', '')} pid={self.pid} dir={self.workdir}>"


@atexit.register
def _stop_all() -> None:
    """Never leave servers behind, even if a test or fixture crashed."""
    for srv in list(_LIVE):
        try:
            srv.stop(timeout=3)
        except Exception:  # noqa: BLE001
            pass


# ======================================================================================
# SNMP
# ======================================================================================


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


class SnmpSim(_Server):
    """``snmpsim-command-responder`` serving ``*.snmprec`` files of ``data_dir``.

    The v2c community is the recording's path relative to data_dir without ``.snmprec``
    (``apc-ap8641.snmprec`` -> community ``apc-ap8641``). ``ports=N`` opens N UDP endpoints
    in one process (``self.ports``); every endpoint serves every recording.
    """

    name = "snmpsim"
    package = "snmpsim (PyPI, in the venv)"
    startup_timeout = 60.0  # first start indexes the recordings (about 1 s per MB)

    def __init__(self, data_dir: str | Path, ports: int = 1, workdir: str | Path | None = None) -> None:
        super().__init__(workdir)
        self.data_dir = Path(data_dir).resolve()
        recs = sorted(self.data_dir.rglob("*.snmprec"))
        if not recs:
            raise ServerError(f"no .snmprec recordings in {self.data_dir}")
        self.communities = [str(p.relative_to(self.data_dir))[: -len(".snmprec")] for p in recs]
        self._nports = ports
        self._allocate_ports()
        self.cache_dir = self.workdir / "cache"

    def _allocate_ports(self) -> None:
        self.ports = free_udp_ports(self._nports)
        self.port = self.ports[0]
        self.url = f"udp://{HOST}:{self.port}"

    def _argv(self) -> list[str]:
        exe = find_binary("snmpsim-command-responder", self.package, [VENV_BIN])
        argv = [exe, f"--data-dir={self.data_dir}", f"--cache-dir={self.cache_dir}", "--log-level=error"]
        argv += [f"--agent-udpv4-endpoint={HOST}:{p}" for p in self.ports]
        return argv

    def _prepare(self) -> None:
        self._answered: set[int] = set()

    def _env(self) -> dict[str, str]:
        return {**os.environ, "SNMPSIM_ALLOW_ROOT": "true", "PYTHONUNBUFFERED": "1"}

    def _ready(self) -> bool:
        # One socket probes every endpoint (500 snmpget runs would take seconds); ports that
        # answered once are not probed again, so UDP drops under a burst cannot stall us.
        todo = [p for p in self.ports if p not in self._answered]
        self._answered |= udp_snmp_probe(todo, self.communities[0], timeout=0.5)
        missing = set(self.ports) - self._answered
        for p in sorted(missing):
            # pysnmp 7 logs "Listening at" even when its bind() failed: check by hand.
            if self.proc is not None and udp_port_held_by_other(p, self.proc.pid):
                raise PortInUse(f"UDP port {p} is held by another process")
        return not missing


class Snmpd(_Server):
    """Debian net-snmp ``snmpd`` for real SNMPv3 authPriv tests.

    Users (read-only, whole MIB view): ``user`` (SHA/AES-128 authPriv), ``user512``
    (SHA-512/AES-256), ``user_aes256`` (SHA/AES-256, same keys as ``user``), ``noauth_user``
    (noAuthNoPriv), and v2c community ``public``.

    net-snmp's ``AES-256`` uses the Blumenthal key extension = pysnmp
    ``usmAesBlumenthalCfb256Protocol``; pysnmp ``usmAesCfb256Protocol`` (Reeder/Cisco "AES-256-C")
    fails with SHA-1 (times out). With SHA-512 the localized key is long enough that both work.
    """

    name = "snmpd"
    package = "snmpd"
    startup_timeout = 20.0

    user = "sentinelle"
    auth_protocol = "SHA"
    auth_key = "sentinelle-auth-key"
    priv_protocol = "AES"
    priv_key = "sentinelle-priv-key"
    user512 = "sentinelle512"
    auth_protocol512 = "SHA-512"
    auth_key512 = "sentinelle-auth-key-512"
    priv_protocol512 = "AES-256"
    priv_key512 = "sentinelle-priv-key-256"
    user_aes256 = "sentinelle-aes256"
    noauth_user = "sentinelle-noauth"
    community = "public"
    sys_location = "Sentinelle test bed"
    sys_contact = "ci@sentinelle.invalid"

    def __init__(self, workdir: str | Path | None = None) -> None:
        super().__init__(workdir)
        self._allocate_ports()
        self.conf_path = self.workdir / "snmpd.conf"
        self.persistent_dir = self.workdir / "persist"

    def _allocate_ports(self) -> None:
        self.port = free_udp_port()
        self.url = f"udp://{HOST}:{self.port}"

    def v3(self, sha512: bool = False, aes256: bool = False) -> dict[str, str]:
        """authPriv credentials in :func:`snmpget`'s v3 dict form (keys: user, level,
        auth_protocol, auth_key, priv_protocol, priv_key; values are net-snmp names)."""
        if aes256:
            return {
                "user": self.user_aes256,
                "level": "authPriv",
                "auth_protocol": "SHA",
                "auth_key": self.auth_key,
                "priv_protocol": "AES-256",
                "priv_key": self.priv_key,
            }
        if sha512:
            return {
                "user": self.user512,
                "level": "authPriv",
                "auth_protocol": self.auth_protocol512,
                "auth_key": self.auth_key512,
                "priv_protocol": self.priv_protocol512,
                "priv_key": self.priv_key512,
            }
        return {
            "user": self.user,
            "level": "authPriv",
            "auth_protocol": self.auth_protocol,
            "auth_key": self.auth_key,
            "priv_protocol": self.priv_protocol,
            "priv_key": self.priv_key,
        }

    def _prepare(self) -> None:
        self.persistent_dir.mkdir(exist_ok=True)
        # createUser lines are consumed at startup and persisted as usmUser in persistent_dir;
        # repeating them on restart is harmless.
        self.conf_path.write_text(
            f"""agentAddress udp:{HOST}:{self.port}
sysLocation {self.sys_location}
sysContact {self.sys_contact}
sysServices 72
dontLogTCPWrappersConnects yes
createUser {self.user} {self.auth_protocol} "{self.auth_key}" {self.priv_protocol} "{self.priv_key}"
createUser {self.user512} {self.auth_protocol512} "{self.auth_key512}" {self.priv_protocol512} "{self.priv_key512}"
createUser {self.user_aes256} SHA "{self.auth_key}" AES-256 "{self.priv_key}"
createUser {self.noauth_user}
rouser {self.user} priv
rouser {self.user512} priv
rouser {self.user_aes256} priv
rouser {self.noauth_user} noauth
rocommunity {self.community} {HOST}
"""
        )

    def _argv(self) -> list[str]:
        exe = find_binary("snmpd", self.package)
        return [
            exe,
            "-f",
            "-Lo",
            "-C",
            "-c",
            str(self.conf_path),
            "-M",
            "",  # no MIB files needed (and none may be installed)
            "-m",
            "",
            "-p",
            str(self.workdir / "snmpd.pid"),
        ]

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SNMP_PERSISTENT_DIR": str(self.persistent_dir),
            "SNMPCONFPATH": str(self.workdir),
        }

    def _ready(self) -> bool:
        r = snmpget(self.port, ["1.3.6.1.2.1.1.3.0"], v3=self.v3(), timeout=0.5)
        return r.returncode == 0 and "1.3.6.1.2.1.1.3.0" in r.stdout


# ======================================================================================
# MQTT
# ======================================================================================


def make_tls_material(directory: Path, hostnames: Sequence[str] = ("localhost",)) -> dict[str, Path]:
    """Throwaway CA + server certificate (SAN 127.0.0.1 and ``hostnames``) + client cert."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = _dt.datetime.now(_dt.UTC)
    not_before, not_after = now - _dt.timedelta(days=1), now + _dt.timedelta(days=3650)

    def key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def pem_key(k: ec.EllipticCurvePrivateKey) -> bytes:
        return k.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    ca_key = key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sentinelle test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, server: bool) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        k = key()
        b = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca_name)
            .public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(HOST))]
            sans += [x509.DNSName(h) for h in hostnames]
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return b.sign(ca_key, hashes.SHA256()), k

    srv, srv_key = leaf("localhost", True)
    cli, cli_key = leaf("sentinelle-client", False)
    pem = serialization.Encoding.PEM
    paths = {
        "ca": directory / "ca.crt",
        "cert": directory / "server.crt",
        "key": directory / "server.key",
        "client_cert": directory / "client.crt",
        "client_key": directory / "client.key",
    }
    paths["ca"].write_bytes(ca.public_bytes(pem))
    paths["cert"].write_bytes(srv.public_bytes(pem))
    paths["key"].write_bytes(pem_key(srv_key))
    paths["client_cert"].write_bytes(cli.public_bytes(pem))
    paths["client_key"].write_bytes(pem_key(cli_key))
    for p in (paths["key"], paths["client_key"]):
        p.chmod(0o600)
    return paths


class Mosquitto(_Server):
    """Debian ``mosquitto`` broker: anonymous plain listener on ``port``.

    ``persistence=True`` keeps sessions and queued QoS 1 messages across a graceful
    ``stop()``/``start()`` (saved on SIGTERM; ``autosave_interval`` 1 s also covers ``kill()``
    for messages older than a second). ``tls=True`` adds a TLS listener on ``tls_port``
    whose server cert is signed by ``ca_path`` (client cert ``client_cert_path``/``client_key_path``
    available too, not required by the broker).
    """

    name = "mosquitto"
    package = "mosquitto"
    startup_timeout = 15.0

    def __init__(
        self, persistence: bool = False, tls: bool = False, workdir: str | Path | None = None
    ) -> None:
        super().__init__(workdir)
        self.persistence = persistence
        self.tls = tls
        self.conf_path = self.workdir / "mosquitto.conf"
        self.persistence_dir = self.workdir / "persist"
        self.tls_port: int | None = None
        self.tls_url: str | None = None
        self.ca_path: Path | None = None
        self.cert_path: Path | None = None
        self.key_path: Path | None = None
        self.client_cert_path: Path | None = None
        self.client_key_path: Path | None = None
        self._allocate_ports()
        if tls:
            m = make_tls_material(self.workdir / "tls")
            self.ca_path, self.cert_path, self.key_path = m["ca"], m["cert"], m["key"]
            self.client_cert_path, self.client_key_path = m["client_cert"], m["client_key"]

    def _allocate_ports(self) -> None:
        self.port, tls_port = free_tcp_ports(2)
        self.url = f"mqtt://{HOST}:{self.port}"
        if self.tls:
            self.tls_port = tls_port
            self.tls_url = f"mqtts://{HOST}:{self.tls_port}"

    def _prepare(self) -> None:
        lines = [
            "per_listener_settings false",
            "allow_anonymous true",
            "user root",  # else it drops to user 'mosquitto' and cannot write our temp dir
            "log_dest stdout",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp_format %H:%M:%S",
            f"listener {self.port} {HOST}",
        ]
        if self.tls:
            lines += [
                f"listener {self.tls_port} {HOST}",
                f"cafile {self.ca_path}",
                f"certfile {self.cert_path}",
                f"keyfile {self.key_path}",
                "require_certificate false",
            ]
        if self.persistence:
            self.persistence_dir.mkdir(exist_ok=True)
            lines += [
                "persistence true",
                f"persistence_location {self.persistence_dir}/",
                "autosave_interval 1",
            ]
        else:
            lines += ["persistence false"]
        self.conf_path.write_text("\n".join(lines) + "\n")

    def _argv(self) -> list[str]:
        return [find_binary("mosquitto", self.package), "-c", str(self.conf_path)]

    def _ready(self) -> bool:
        if not self._listening(self.port, *([self.tls_port] if self.tls_port else [])):
            return False
        # A real MQTT CONNECT/PUBLISH/DISCONNECT round trip.
        pub = find_binary("mosquitto_pub", "mosquitto-clients")
        r = subprocess.run(
            [pub, "-h", HOST, "-p", str(self.port), "-t", "sentinelle/ready", "-m", "1", "-q", "0"],
            capture_output=True,
            timeout=2,
        )
        if r.returncode != 0:
            return False
        if self.tls and self.tls_port is not None:
            ctx = ssl.create_default_context(cafile=str(self.ca_path))
            with socket.create_connection((HOST, self.tls_port), timeout=1) as s:
                with ctx.wrap_socket(s, server_hostname="localhost"):
                    pass
        return True

    def ssl_context(self) -> ssl.SSLContext:
        """A client SSLContext trusting this broker's throwaway CA."""
        if self.ca_path is None:
            raise ServerError("Mosquitto started without tls=True")
        return ssl.create_default_context(cafile=str(self.ca_path))


# ======================================================================================
# InfluxDB 1.x
# ======================================================================================


class InfluxDB1(_Server):
    """Debian ``influxd`` 1.6.7: ``/write`` + InfluxQL ``/query`` (no ``/api/v2``), no auth."""

    name = "influxd"
    package = "influxdb"
    startup_timeout = 30.0

    def __init__(self, workdir: str | Path | None = None) -> None:
        super().__init__(workdir)
        self._allocate_ports()
        self.conf_path = self.workdir / "influxdb.conf"
        self.db: str | None = None

    def _allocate_ports(self) -> None:
        self.port, self.rpc_port = free_tcp_ports(2)
        self.url = f"http://{HOST}:{self.port}"

    def _prepare(self) -> None:
        d = self.workdir
        self.conf_path.write_text(
            f"""reporting-disabled = true
bind-address = "{HOST}:{self.rpc_port}"

[meta]
  dir = "{d}/meta"
  logging-enabled = false

[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  wal-fsync-delay = "0s"
  query-log-enabled = false
  trace-logging-enabled = false

[coordinator]
  log-queries-after = "0s"

[retention]
  enabled = false

[shard-precreation]
  enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "{HOST}:{self.port}"
  auth-enabled = false
  log-enabled = false
  flux-enabled = false

[logging]
  format = "logfmt"
  level = "warn"

[subscriber]
  enabled = false

[[graphite]]
  enabled = false

[[collectd]]
  enabled = false

[[opentsdb]]
  enabled = false

[[udp]]
  enabled = false

[continuous_queries]
  enabled = false
"""
        )

    def _argv(self) -> list[str]:
        return [find_binary("influxd", self.package), "run", "-config", str(self.conf_path)]

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}
        return env

    def _ready(self) -> bool:
        if not self._listening(self.port):
            return False
        status, _ = http("GET", f"{self.url}/ping", timeout=1)
        return status == 204

    def query(self, q: str, db: str | None = None, epoch: str | None = None) -> dict[str, Any]:
        """Run InfluxQL (POST /query) and return the parsed JSON; raise on HTTP or statement error."""
        params = {"q": q}
        if db:
            params["db"] = db
        if epoch:
            params["epoch"] = epoch
        status, body = http(
            "POST",
            f"{self.url}/query",
            data=urllib.parse.urlencode(params).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        if status != 200:
            raise ServerError(f"influx query {q!r} -> HTTP {status}: {body[:500]!r}")
        result: dict[str, Any] = json.loads(body)
        for r in result.get("results", []):
            if "error" in r:
                raise ServerError(f"influx query {q!r} -> {r['error']}")
        return result

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"')

    def write(self, lines: str | Iterable[str], db: str | None = None, precision: str = "ns") -> None:
        """Write line protocol (for test setup); raise unless 204."""
        body = lines if isinstance(lines, str) else "\n".join(lines)
        dbname = db or self.db
        if not dbname:
            raise ServerError("write needs a db")
        qs = urllib.parse.urlencode({"db": dbname, "precision": precision})
        status, resp = http("POST", f"{self.url}/write?{qs}", data=body.encode())
        if status != 204:
            raise ServerError(f"influx write -> HTTP {status}: {resp[:500]!r}")

    def points(self, q: str, db: str | None = None) -> list[dict[str, Any]]:
        """Rows of a SELECT as dicts (column -> value), tags included if grouped by them."""
        res = self.query(q, db=db or self.db, epoch="ns")
        rows: list[dict[str, Any]] = []
        for r in res.get("results", []):
            for s in r.get("series", []) or []:
                for v in s.get("values", []):
                    row = dict(zip(s["columns"], v, strict=False))
                    row.update(s.get("tags", {}) or {})
                    row.setdefault("_measurement", s.get("name"))
                    rows.append(row)
        return rows


# ======================================================================================
# VictoriaMetrics
# ======================================================================================


class VictoriaMetrics(_Server):
    """Debian ``victoria-metrics`` (single node): accepts Influx line protocol on
    ``/write`` and ``/api/v2/write`` (influxdb-client works against it), no InfluxQL.

    Naming (verified with 1.79): line ``power,site=a device=3.5,energy=7i 1700000000000000000``
    becomes ``power_device{site="a"}`` = 3.5 and ``power_energy{site="a"}`` = 7, at millisecond
    precision; a field named ``value`` still gives ``power_value``. ``/write?db=x`` adds a label
    ``db="x"``; ``/api/v2/write?bucket=`` adds none. Malformed lines are dropped with HTTP 204
    (only logged); string fields become 0, booleans 1. ``export()`` flushes first, so points
    written a moment ago are counted.
    """

    name = "victoria-metrics"
    package = "victoria-metrics"
    startup_timeout = 30.0

    def __init__(self, workdir: str | Path | None = None) -> None:
        super().__init__(workdir)
        self._allocate_ports()
        self.data_dir = self.workdir / "data"

    def _allocate_ports(self) -> None:
        self.port = free_tcp_port()
        self.url = f"http://{HOST}:{self.port}"

    def _argv(self) -> list[str]:
        return [
            find_binary("victoria-metrics", self.package),
            f"-storageDataPath={self.data_dir}",
            f"-httpListenAddr={HOST}:{self.port}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
            "-search.disableCache",
            "-loggerLevel=WARN",
            "-memory.allowedPercent=20",
        ]

    def _ready(self) -> bool:
        if not self._listening(self.port):
            return False
        status, _ = http("GET", f"{self.url}/health", timeout=1)
        return status == 200

    def flush(self) -> None:
        """Make just-written points searchable (``/internal/force_flush``)."""
        status, body = http("GET", f"{self.url}/internal/force_flush")
        if status != 200:
            raise ServerError(f"force_flush -> HTTP {status}: {body[:300]!r}")

    def write(self, lines: str | Iterable[str], precision: str = "ns") -> None:
        """Write Influx line protocol via ``/write`` (test setup)."""
        body = lines if isinstance(lines, str) else "\n".join(lines)
        status, resp = http("POST", f"{self.url}/write?precision={precision}", data=body.encode())
        if status not in (200, 204):
            raise ServerError(f"vm write -> HTTP {status}: {resp[:300]!r}")

    def export(self, match: str = '{__name__!=""}', flush: bool = True) -> list[dict[str, Any]]:
        """All series matching ``match`` as dicts ``{"metric": {...}, "values": [...],
        "timestamps": [ms...]}`` (``/api/v1/export``, JSON lines)."""
        if flush:
            self.flush()
        # Default end is "now" truncated to the second, hiding the last second's points.
        qs = urllib.parse.urlencode(
            {"match[]": match, "start": "0", "end": str(int(time.time()) + 2 * 86400)}
        )
        status, body = http("GET", f"{self.url}/api/v1/export?{qs}")
        if status != 200:
            raise ServerError(f"vm export -> HTTP {status}: {body[:300]!r}")
        return [json.loads(line) for line in body.decode().splitlines() if line.strip()]

    def count_points(self, match: str = '{__name__!=""}') -> int:
        """Total number of samples over all matching series."""
        return sum(len(s["values"]) for s in self.export(match))
