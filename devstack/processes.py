"""Start background processes and stop them (and their children) by PID."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StartFailed(RuntimeError):
    """Raised by a check polled with ``wait_until`` when waiting longer cannot help (the
    process it waits for has exited): ``wait_until`` lets it through at once."""


def wait_until(check: Callable[[], object], timeout: float, what: str, interval: float = 0.5):
    """Poll ``check`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except StartFailed:
            raise
        except Exception as exc:  # the thing polled may not be up yet
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(
        f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error})"
    )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def start(command: list[str], log_path: Path, env: dict[str, str], cwd: Path | None = None):
    log_file = open(log_path, "ab")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(
        command,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    process.log_file = log_file  # type: ignore[attr-defined]
    return process


def stop_tree(pid: int, timeout: float = 20.0) -> None:
    """Terminate a process and all its descendants, then kill what is left."""
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    procs = [root, *root.children(recursive=True)]
    stop_all(procs, timeout)


def stop_all(procs: list[psutil.Process], timeout: float = 20.0) -> None:
    for proc in procs:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


def processes_matching(predicate: Callable[[list[str]], bool]) -> list[psutil.Process]:
    """Processes (other than this one) whose command line satisfies ``predicate``."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.pid != os.getpid() and predicate(proc.info.get("cmdline") or []):
            found.append(proc)
    return found
