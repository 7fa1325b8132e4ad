"""A real S3-compatible server on 127.0.0.1: ``rclone serve s3`` over a local directory.

The data lives on disk, so stopping and starting the server keeps every object, which lets
tests take the store down in the middle of a run and bring it back.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from devstack.processes import free_port, port_open, start, stop_tree, wait_until

RCLONE = str(Path(sys.executable).with_name("rclone"))


@dataclass
class S3Server:
    bucket: str = "ray-checkpoints"
    port: int = field(default_factory=free_port)
    access_key: str = field(default_factory=lambda: "test" + secrets.token_hex(8))
    secret_key: str = field(default_factory=lambda: secrets.token_hex(16))
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="s3data-")))
    process: subprocess.Popen | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        (self.root / self.bucket).mkdir(exist_ok=True)
        self.process = start(
            [
                RCLONE,
                "serve",
                "s3",
                str(self.root),
                "--addr",
                f"127.0.0.1:{self.port}",
                "--auth-key",
                f"{self.access_key},{self.secret_key}",
                "--no-check-certificate",
            ],
            self.root.parent / f"rclone-{self.port}.log",
            env={"PATH": "/usr/bin:/bin", "HOME": str(self.root.parent)},
        )
        wait_until(lambda: port_open(self.port), 30, f"rclone serve s3 on port {self.port}")
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_tree(self.process.pid)
            self.process.log_file.close()
            self.process = None
        wait_until(lambda: not port_open(self.port), 30, "the S3 server to stop")

    def discard(self) -> None:
        """Stop the server and delete its data."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

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
