"""Real file servers for the tests: HTTP and Samba, as subprocesses on 127.0.0.1, stopped by pid.

Both serve a local directory; files written into it later are served too, so one server can
serve many tests, each in its own subdirectory.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import getpass
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "HttpServer",
    "SambaServer",
    "http_server",
    "samba_server",
    "smbd_missing_reason",
    "start_http_server",
    "start_samba_server",
]

_START_TIMEOUT = 20.0


@dataclasses.dataclass
class HttpServer:
    """A ``python -m http.server`` serving ``root`` at ``url``."""

    process: subprocess.Popen[bytes]
    port: int
    root: Path
    log_path: Path

    @property
    def url(self) -> str:
        """The URL of ``root``, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def requests(self, path: str) -> list[str]:
        """The methods of the requests served so far for ``path`` (``"/run/1.png"``), in order.

        http.server logs a request when it sends the status line, before the body, so every
        request whose response a client has read is already in the log.
        """
        pattern = re.compile(rf'"([A-Z]+) {re.escape(path)} HTTP/')
        return pattern.findall(self.log_path.read_text(errors="replace"))

    def stop(self) -> None:
        """Stop the server by its pid."""
        _stop(self.process)


@dataclasses.dataclass
class SambaServer:
    """An ``smbd`` serving ``share_dir`` as share ``share`` to ``user`` / ``password``."""

    process: subprocess.Popen[bytes]
    port: int
    share_dir: Path
    work_dir: Path
    share: str
    user: str
    password: str

    @property
    def url(self) -> str:
        """``smb://user:password@127.0.0.1:port/share``, without a trailing slash."""
        return f"smb://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.share}"

    @property
    def public_url(self) -> str:
        """``url`` without the password, as a loader's keys show it."""
        return f"smb://{self.user}@127.0.0.1:{self.port}/{self.share}"

    def log(self) -> str:
        """What smbd has logged so far (for a failing test's message)."""
        return (self.work_dir / "smbd.log").read_text(errors="replace")

    def stop(self) -> None:
        """Stop smbd by its pid (its children exit when it does)."""
        _stop(self.process)

    def kill(self) -> None:
        """Kill smbd and the children serving its connections at once (SIGKILL), as in a crash.

        smbd runs in a process group of its own (its pid), so this ends only this server.
        """
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def start_again(self) -> None:
        """Start smbd again on the same port with the same configuration (after kill or stop)."""
        if self.process.poll() is None:
            raise RuntimeError("smbd is still running")
        self.process = _launch_smbd(self.work_dir)
        if not _wait_for_port(self.process, self.port, _START_TIMEOUT):
            self.stop()
            raise RuntimeError(
                f"smbd did not start again on port {self.port}; its log:\n{self.log()}"
            )

    def url_for(self, user: str | None = None, password: str | None = None) -> str:
        """The share's URL with another user name or password (a wrong one, say)."""
        user = self.user if user is None else user
        password = self.password if password is None else password
        return f"smb://{user}:{password}@127.0.0.1:{self.port}/{self.share}"


def start_http_server(root: Path, log_path: Path) -> HttpServer:
    """Start ``python -m http.server`` on a free port of 127.0.0.1, serving ``root``.

    Its request log goes to ``log_path`` (keep it outside ``root``).
    """
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            # -u: the banner and every request log line are written at once.
            [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1"],
            cwd=root,  # not --directory: cwd works the same on every Python version
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
        )
    assert process.stdout is not None
    # The server prints its banner after binding and listening, so once the line is here the port
    # accepts connections: no polling.
    try:
        banner = _read_line(process.stdout, _START_TIMEOUT)
    except BaseException:
        _stop(process)
        raise
    match = re.search(rb"port (\d+)", banner)
    if match is None:
        _stop(process)
        raise RuntimeError(f"http.server did not say its port: {banner!r}")
    return HttpServer(process, int(match.group(1)), root, log_path)


def smbd_missing_reason() -> str | None:
    """Why the Samba tests cannot run here, or ``None`` when they can."""
    if _smbd() is None or shutil.which("smbpasswd") is None:
        return "smbd not installed: apt-get install samba (Debian/Ubuntu) to run the SMB tests"
    if os.geteuid() != 0:
        return "smbd must run as root to serve files as a user; run the SMB tests as root"
    return None


def start_samba_server(
    share_dir: Path, work_dir: Path, *, share: str = "images", password: str = "prefetch-pw"
) -> SambaServer:
    """Start ``smbd`` on a free high port of 127.0.0.1, sharing ``share_dir`` (read only).

    Every file smbd writes (configuration, password database, locks, logs, pid) stays in
    ``work_dir``. The share's user is the current (root) unix user, added to a private password
    database with ``smbpasswd``: no unix account is created. smbd cannot bind port 0, so the port
    is picked free first; if another process takes it in between, start again on another port.
    """
    reason = smbd_missing_reason()
    if reason is not None:
        raise RuntimeError(reason)
    user = getpass.getuser()
    for _ in range(3):
        port = _free_port()
        config = _write_samba_config(work_dir, share_dir, share, user, port)
        subprocess.run(
            ["smbpasswd", "-c", str(config), "-a", "-s", user],
            input=f"{password}\n{password}\n".encode(),
            check=True,
            capture_output=True,
            timeout=_START_TIMEOUT,
        )
        process = _launch_smbd(work_dir)
        server = SambaServer(process, port, share_dir, work_dir, share, user, password)
        if _wait_for_port(process, port, _START_TIMEOUT):
            return server
        server.stop()
    raise RuntimeError(f"smbd did not start; its log:\n{server.log()}")


@contextlib.contextmanager
def http_server(root: Path, log_path: Path) -> Iterator[HttpServer]:
    """An HTTP server over ``root`` for the duration of a ``with`` block."""
    server = start_http_server(root, log_path)
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def samba_server(
    share_dir: Path, work_dir: Path, *, password: str = "prefetch-pw"
) -> Iterator[SambaServer]:
    """A Samba server over ``share_dir`` for the duration of a ``with`` block."""
    server = start_samba_server(share_dir, work_dir, password=password)
    try:
        yield server
    finally:
        try:
            _forget_smb_sessions()
        finally:
            server.stop()


def _forget_smb_sessions() -> None:
    # smbprotocol keeps its sessions in a global cache. Log them off while the server still runs:
    # disconnecting after the server has gone raises SMBConnectionClosed.
    with contextlib.suppress(ImportError):
        import smbclient

        smbclient.reset_connection_cache()
    with contextlib.suppress(ImportError):
        from prefetcher._smb import forget_servers

        forget_servers()


def _launch_smbd(work_dir: Path) -> subprocess.Popen[bytes]:
    with open(work_dir / "smbd.log", "ab") as log:
        return subprocess.Popen(
            [
                _smbd() or "smbd",
                "--foreground",
                "--no-process-group",
                "--debug-stdout",
                "--debuglevel=1",
                f"--configfile={work_dir / 'smb.conf'}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # smbd signals its whole process group when it stops: give it a group of its own,
            # or stopping it would kill the test run too.
            start_new_session=True,
        )


def _smbd() -> str | None:
    # /usr/sbin is not on every user's PATH.
    return shutil.which("smbd") or shutil.which("smbd", path="/usr/sbin:/usr/local/sbin")


def _write_samba_config(work_dir: Path, share_dir: Path, share: str, user: str, port: int) -> Path:
    state = {
        name: work_dir / name
        for name in ("lock", "state", "cache", "private", "pid", "ncalrpc", "binddns")
    }
    for directory in state.values():
        directory.mkdir(parents=True, exist_ok=True)
    config = work_dir / "smb.conf"
    config.write_text(
        f"""[global]
    smb ports = {port}
    interfaces = 127.0.0.1
    bind interfaces only = yes
    server role = standalone server
    disable netbios = yes
    lock directory = {state["lock"]}
    state directory = {state["state"]}
    cache directory = {state["cache"]}
    private dir = {state["private"]}
    pid directory = {state["pid"]}
    ncalrpc dir = {state["ncalrpc"]}
    binddns dir = {state["binddns"]}
    passdb backend = tdbsam:{state["private"] / "passdb.tdb"}
    log file = {work_dir / "smbd.log"}
    load printers = no
    printcap name = /dev/null
    disable spoolss = yes
    usershare path =

[{share}]
    path = {share_dir}
    read only = yes
    valid users = {user}
"""
    )
    return config


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_port(process: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
    """Whether ``process`` accepts connections on ``port`` before ``timeout`` (False if it died).

    smbd says nothing when it is ready, so this polls; the loop is bounded by ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                # Another program could own the port; smbd must still be alive to count.
                return process.poll() is None
        time.sleep(0.05)
    return False


def _read_line(stream: object, timeout: float) -> bytes:
    future: concurrent.futures.Future[bytes] = concurrent.futures.Future()

    def read() -> None:
        try:
            future.set_result(stream.readline())  # type: ignore[attr-defined]
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=read, daemon=True).start()
    return future.result(timeout=timeout)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
