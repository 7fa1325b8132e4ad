"""Connect this process to Ray once, after checks that turn Ray's vague failures into clear ones.

Ray's own connect retries for a long time and then says only "Failed to connect"; a wrong
token, a version mismatch and a closed port all look alike. So before ``ray.init`` we probe:
the TCP port (unreachable), then, for a GCS address, the cluster metadata through an
authenticated GCS call (bad token, Ray/Python version mismatch). Token auth is set from the
connection explicitly, never left to a ``~/.ray/auth_token`` file that happens to exist.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import logging
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ray

from ray_provider.client.settings import RaySettings
from ray_provider.exceptions import (
    RayAuthError,
    RayConnectionConfigError,
    RayUnreachableError,
    RayVersionMismatchError,
)
from ray_provider.runtime.client_handshake import CLIENT_HANDSHAKE_ATTEMPTS, init_with_retries

log = logging.getLogger(__name__)

# The address this process is connected to (one Ray cluster per process, as Ray allows).
_connected_address: str | None = None


def _probe_tcp(host: str, port: int, timeout: float, settings: RaySettings) -> None:
    try:
        with socket.create_connection((host, port), timeout=min(timeout, 10.0)):
            return
    except OSError as exc:
        raise RayUnreachableError(
            f"Ray is unreachable at {settings.address!r} (tried {host}:{port} for connection "
            f"{settings.conn_id!r}): {exc}. Check that the Ray head is running and that this "
            f"address is reachable from the Airflow worker; set the connection's host (or "
            f"RAY_URL) to 'ray://HOST:10001', 'HOST:6379' or 'local'."
        ) from exc


def _apply_auth(settings: RaySettings) -> None:
    """Set Ray's token-auth mode for this process from the connection, explicitly.

    Ray reads the mode into a cached config when it is imported, so the cache is refreshed
    after the environment changes (as Ray itself does when it turns token auth on).
    """
    from ray._raylet import AuthenticationTokenLoader, Config

    if settings.token:
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_AUTH_TOKEN"] = settings.token
    else:
        os.environ["RAY_AUTH_MODE"] = "disabled"
        os.environ.pop("RAY_AUTH_TOKEN", None)
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


def _local_python_version() -> str:
    return platform.python_version()


def check_cluster_metadata(host: str, port: int, settings: RaySettings) -> dict:
    """Read the cluster's versions through an authenticated GCS call and compare with ours."""
    from ray._raylet import GcsClient

    try:
        client = GcsClient(address=f"{host}:{port}")
        raw = client.internal_kv_get(
            b"CLUSTER_METADATA", b"cluster", timeout=settings.connect_timeout
        )
    except Exception as exc:
        if type(exc).__name__ == "AuthenticationError" or "InvalidAuthToken" in str(exc):
            raise RayAuthError(
                f"The Ray cluster at {settings.address!r} refused the connection "
                f"{settings.conn_id!r}: token authentication is on and {settings.token_hint}. "
                "Put the cluster's token (RAY_AUTH_TOKEN of the head; `ray get-auth-token` prints "
                "it) in the connection's password field."
            ) from exc
        raise RayUnreachableError(
            f"Ray's GCS at {host}:{port} (connection {settings.conn_id!r}) accepted TCP but did "
            f"not answer: {type(exc).__name__}: {exc}. Is this the GCS port of a Ray head "
            "(usually 6379), or a Ray Client port (then write 'ray://HOST:PORT')?"
        ) from exc
    metadata = json.loads(raw) if raw else {}
    check_versions(metadata, settings)
    return metadata


def check_versions(metadata: dict, settings: RaySettings) -> None:
    cluster_ray = metadata.get("ray_version")
    cluster_python = metadata.get("python_version")
    ours_python = _local_python_version()
    problems = []
    if cluster_ray and cluster_ray != ray.__version__:
        problems.append(f"Ray {cluster_ray} on the cluster, Ray {ray.__version__} here")
    if cluster_python and cluster_python.rsplit(".", 1)[0] != ours_python.rsplit(".", 1)[0]:
        problems.append(f"Python {cluster_python} on the cluster, Python {ours_python} here")
    if problems:
        raise RayVersionMismatchError(
            f"Version mismatch between this Airflow worker and the Ray cluster at "
            f"{settings.address!r}: {'; '.join(problems)}. Ray needs the same Ray version and "
            "Python minor version on both sides: install the cluster's versions in the Airflow "
            "image, or run the cluster on the image this project builds from the same lock."
        )


def _translate_init_error(exc: Exception, settings: RaySettings) -> Exception:
    text = str(exc)
    if "version mismatch" in text.lower():
        return RayVersionMismatchError(
            f"Version mismatch reported by the Ray cluster at {settings.address!r}: {text}. "
            "Use the same Ray version and Python minor version in Airflow and in the cluster."
        )
    if settings.mode in ("client", "builder") and "timeout" in text.lower():
        return RayAuthError(
            f"The Ray Client server at {settings.address!r} accepted TCP but did not complete "
            f"the handshake within the timeout ({text}). Most often the token is wrong or "
            "missing (the connection's password field); otherwise check that the port is the "
            "Ray Client port (10001 by default) and the head is healthy."
        )
    return RayUnreachableError(
        f"Could not connect to Ray at {settings.address!r} (connection {settings.conn_id!r}): "
        f"{type(exc).__name__}: {text}"
    )


def _local_lock_path(port: int) -> Path:
    return Path(tempfile.gettempdir()) / f"ray_provider_local_{port}.lock"


def _ray_executable() -> str:
    beside = Path(sys.executable).with_name("ray")
    return str(beside) if beside.exists() else (shutil.which("ray") or "ray")


def ensure_local_ray(settings: RaySettings) -> str:
    """Reuse the Ray head on 127.0.0.1:``local_port``, starting one (detached) if none runs.

    The head is started with ``ray start`` rather than an in-process ``ray.init()`` so that it
    outlives this task process: results of one task must still be there for the next.
    """
    host, port = "127.0.0.1", settings.local_port
    address = f"{host}:{port}"
    lock_path = _local_lock_path(port)
    with open(lock_path, "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=2):
            return address
        log.info("No Ray on %s: starting a local Ray head (ray start --head)", address)
        env = dict(os.environ)
        command = [
            _ray_executable(),
            "start",
            "--head",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--dashboard-host=127.0.0.1",
            "--disable-usage-stats",
        ]
        started = time.monotonic()
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RayUnreachableError(
                f"Starting a local Ray head failed ({' '.join(command)}): "
                f"{(result.stderr or result.stdout)[-2000:]}"
            )
        log.info("Local Ray head started in %.1fs", time.monotonic() - started)
    return address


def check_client_builder(settings: RaySettings) -> None:
    """A ``MODULE://ADDRESS`` needs ``MODULE`` with a ``ClientBuilder``: say so before Ray does.

    Ray's own message ("Module: x does not exist") names neither the connection nor the fix.
    """
    module_name = settings.builder_module
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RayConnectionConfigError(
            f"Connection {settings.conn_id!r}: the address {settings.address!r} is handled by "
            f"the Python module {module_name!r} (Ray's ClientBuilder mechanism), which is not "
            f"installed here ({exc}). Install the package that provides it in the Airflow "
            f"image (for anyscale://, `pip install anyscale`), or use 'ray://HOST:10001'."
        ) from exc
    if not hasattr(module, "ClientBuilder"):
        raise RayConnectionConfigError(
            f"Connection {settings.conn_id!r}: the module {module_name!r} named by the address "
            f"{settings.address!r} has no ClientBuilder class, so Ray cannot connect through "
            "it. Check the address's scheme."
        )


def connect(settings: RaySettings) -> None:
    """Connect this process to the cluster in ``settings`` (no-op when already connected)."""
    global _connected_address
    target = settings.address
    if ray.is_initialized():
        if _connected_address in (target, None) or settings.mode == "local":
            return
        raise RayConnectionConfigError(
            f"This process is already connected to Ray at {_connected_address!r} and cannot "
            f"also connect to {target!r} (connection {settings.conn_id!r}): Ray allows one "
            "cluster per process. Use one Ray connection per task."
        )
    _apply_auth(settings)
    if settings.mode == "local":
        target = ensure_local_ray(settings)
    if settings.mode == "builder":
        # The module knows how to reach its cluster; Ray hands it the address.
        check_client_builder(settings)
    else:
        host, port = settings.host_port
        _probe_tcp(host, port, settings.connect_timeout, settings)
        if settings.mode != "client":
            check_cluster_metadata(host, port, settings)
    _init_with_retries(target, settings)
    _connected_address = settings.address
    log.info("Connected to Ray at %s (namespace %s)", target, settings.namespace)


def _init_with_retries(target: str, settings: RaySettings) -> None:
    attempts = CLIENT_HANDSHAKE_ATTEMPTS if settings.mode in ("client", "builder") else 1
    try:
        init_with_retries(
            target,
            attempts=attempts,
            namespace=settings.namespace,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    except (ConnectionError, RuntimeError, TimeoutError) as exc:
        raise _translate_init_error(exc, settings) from exc


def disconnect() -> None:
    global _connected_address
    if ray.is_initialized():
        ray.shutdown()
    _connected_address = None
