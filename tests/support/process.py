"""A test server as a subprocess: found binary, bounded start, graceful stop, same port on restart.

Each server owns a work directory and its ports from construction on, so ``stop()`` then
``start()`` brings the same server back on the same port with the same data: that is
how the sink-outage tests simulate a crash or a maintenance window.

A missing binary raises :class:`ServerError` naming the Debian package: in CI a missing
server is a failure, never a skip.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable
from pathlib import Path

from tests.support.ports import HOST, tcp_listener_owner

VENV_BIN = Path(sys.executable).parent


_LIVE: weakref.WeakSet[_Server] = weakref.WeakSet()


class ServerError(RuntimeError):
    """A test server could not be found, started or queried."""


class PortInUse(ServerError):
    """Our port is held by another process (detected when the server does not say so)."""


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
