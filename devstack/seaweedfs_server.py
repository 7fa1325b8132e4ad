"""SeaweedFS on 127.0.0.1 (``weed server -s3``): the checkpoint benchmark's second S3 server.

The chart offers SeaweedFS as the in-cluster store where MinIO is not wanted
(``store.kind: seaweedfs``, ``charts/ray-platform/templates/store-seaweedfs-deployment.yaml``);
this runs the same ``weed server`` (master, volume server, filer and S3 gateway in one process)
with the same kind of S3 identity file, on free ports of 127.0.0.1. For the benchmark only:
``make test`` never needs it. The binary is ``weed``, built by
``bash docker/local/go-binaries.sh seaweedfs`` (``$WEED_BINARY`` or ``weed`` on PATH also do).

    server = SeaweedFSServer().start()   # the same API as devstack.s3_server.S3Server
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from devstack.processes import free_port, port_open
from devstack.s3_server import S3Server, find_binary, pinned_version


def weed_binary() -> str:
    return find_binary("weed", "WEED_BINARY", "seaweedfs")


@dataclass
class SeaweedFSServer(S3Server):
    """``weed server -s3`` over ``root``; ``port`` is the S3 gateway's, the others its own."""

    master_port: int = field(default_factory=free_port)
    volume_port: int = field(default_factory=free_port)
    filer_port: int = field(default_factory=free_port)
    # gRPC ports are HTTP port + 10000 unless given, which may not exist above 55535.
    grpc_ports: tuple[int, int, int, int] = field(
        default_factory=lambda: (free_port(), free_port(), free_port(), free_port())
    )

    name = "seaweedfs"

    @property
    def s3_config(self):
        return self.home / "s3.json"

    def command(self) -> list[str]:
        master_grpc, volume_grpc, filer_grpc, s3_grpc = self.grpc_ports
        return [
            weed_binary(),
            "server",
            f"-dir={self.root}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={self.master_port}",
            f"-master.port.grpc={master_grpc}",
            "-master.telemetry=false",
            # As the chart: 1 GiB volumes, as many as the disk takes.
            "-master.volumeSizeLimitMB=1024",
            f"-volume.port={self.volume_port}",
            f"-volume.port.grpc={volume_grpc}",
            "-volume.max=0",
            f"-filer.port={self.filer_port}",
            f"-filer.port.grpc={filer_grpc}",
            f"-filer.localSocket={self.home / 'filer.sock'}",
            "-s3",
            f"-s3.port={self.port}",
            f"-s3.port.grpc={s3_grpc}",
            f"-s3.config={self.s3_config}",
            f"-s3.localSocket={self.home / 's3.sock'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ]

    def env(self) -> dict[str, str]:
        return {"PATH": "/usr/bin:/bin", "HOME": str(self.home)}

    def ready(self) -> bool:
        # The gateway answers before the filer and a volume are up; listing the buckets
        # needs all of them.
        if not port_open(self.port):
            return False
        self.client().list_buckets()
        return True

    def ports(self) -> list[int]:
        return [self.port, self.master_port, self.volume_port, self.filer_port]

    def describe(self) -> str:
        return (
            f"SeaweedFS (github.com/seaweedfs/seaweedfs {pinned_version('SEAWEEDFS_VERSION')}), "
            "`weed server -s3` (master, volume, filer, S3 gateway in one process), 127.0.0.1"
        )

    def start(self) -> SeaweedFSServer:
        # The identity file of the chart's deployment: one identity with these keys.
        self.home.mkdir(parents=True, exist_ok=True)
        identity = {
            "name": "platform",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        self.s3_config.write_text(json.dumps({"identities": [identity]}))
        self.s3_config.chmod(0o600)
        super().start()
        return self
