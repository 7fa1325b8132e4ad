"""S3-compatible object store access for checkpoints (MinIO, AWS S3, GCS interop, rclone).

Runs on Ray workers, which write and read checkpoints next to the data, so the values never
pass through Airflow. Transfers stream from and to local temp files in multipart chunks (no
second copy of a large value in memory) and compute the SHA-256 of the bytes as they go by.
Connection failures are retried with exponential backoff, then reported with the endpoint.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, TypeVar

from ray_provider.runtime.errors import CheckpointStoreError

PART_SIZE = 64 * 1024 * 1024
T = TypeVar("T")


@dataclass(frozen=True)
class StoreConfig:
    """Where checkpoints go: built on the Airflow side from an ``aws`` connection."""

    endpoint: str  # host:port, no scheme
    secure: bool
    access_key: str | None
    secret_key: str | None
    region: str
    bucket: str
    prefix: str
    conn_id: str
    attempts: int = 4
    backoff_seconds: float = 1.0

    def __repr__(self) -> str:  # never print the secret
        return (
            f"StoreConfig(endpoint={self.endpoint!r}, bucket={self.bucket!r}, "
            f"prefix={self.prefix!r})"
        )

    @property
    def endpoint_url(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.endpoint}"

    def uri(self, name: str = "") -> str:
        return f"s3://{self.bucket}/{name}"


class _HashingReader:
    """File wrapper that hashes every byte read (the upload's own single pass)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.sha256.update(data)
        return data


class S3Store:
    def __init__(self, config: StoreConfig) -> None:
        import urllib3
        from minio import Minio

        self.config = config
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5.0, read=120.0),
            retries=urllib3.Retry(total=1, backoff_factor=0.2, status_forcelist=[502, 503, 504]),
            maxsize=4,
        )
        self._client = Minio(
            config.endpoint,
            access_key=config.access_key,
            secret_key=config.secret_key,
            secure=config.secure,
            region=config.region,
            http_client=http,
        )

    def _retrying(self, what: str, action: Callable[[], T]) -> T:
        """Run ``action``, retrying connection-level failures with exponential backoff.

        An answer from the store (an S3 error, a 404) is not retried: it would not change.
        """
        from minio.error import S3Error

        delay = self.config.backoff_seconds
        for attempt in range(1, self.config.attempts + 1):
            try:
                return action()
            except S3Error:
                raise
            except Exception as exc:
                if self.is_missing(exc):
                    raise
                if attempt == self.config.attempts:
                    raise CheckpointStoreError(
                        f"{what} failed after {attempt} attempts against the S3 endpoint "
                        f"{self.config.endpoint_url} (connection {self.config.conn_id!r}): "
                        f"{type(exc).__name__}: {exc}. Check that the store is running and "
                        "reachable from the Ray workers."
                    ) from exc
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def ensure_bucket(self) -> None:
        def create() -> None:
            if not self._client.bucket_exists(self.config.bucket):
                self._client.make_bucket(self.config.bucket)

        self._retrying(f"checking bucket {self.config.bucket!r}", create)

    def upload_file(self, name: str, path: str, size: int) -> str:
        """Upload a local file (multipart); returns the hex SHA-256 of what was sent."""

        def send() -> str:
            with open(path, "rb") as handle:
                reader = _HashingReader(handle)
                self._client.put_object(
                    self.config.bucket, name, reader, length=size, part_size=PART_SIZE
                )
                return reader.sha256.hexdigest()

        return self._retrying(f"uploading {self.config.uri(name)}", send)

    def put_bytes(self, name: str, data: bytes) -> None:
        import io

        self._retrying(
            f"uploading {self.config.uri(name)}",
            lambda: self._client.put_object(self.config.bucket, name, io.BytesIO(data), len(data)),
        )

    def download_file(self, name: str, path: str) -> tuple[int, str]:
        """Stream an object to a local file; returns (bytes, hex SHA-256)."""

        def fetch() -> tuple[int, str]:
            response = self._client.get_object(self.config.bucket, name)
            digest, size = hashlib.sha256(), 0
            try:
                with open(path, "wb") as out:
                    for chunk in response.stream(8 * 1024 * 1024):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
            finally:
                response.close()
                response.release_conn()
            return size, digest.hexdigest()

        return self._retrying(f"downloading {self.config.uri(name)}", fetch)

    def get_bytes(self, name: str) -> bytes:
        def fetch() -> bytes:
            response = self._client.get_object(self.config.bucket, name)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return self._retrying(f"downloading {self.config.uri(name)}", fetch)

    def list(self, prefix: str) -> list[dict[str, Any]]:
        def scan() -> list[dict[str, Any]]:
            return [
                {"name": o.object_name, "size": o.size, "modified": o.last_modified}
                for o in self._client.list_objects(self.config.bucket, prefix, recursive=True)
            ]

        return self._retrying(f"listing {self.config.uri(prefix)}", scan)

    def delete(self, names: list[str]) -> int:
        from minio.deleteobjects import DeleteObject

        def remove() -> int:
            errors = list(
                self._client.remove_objects(self.config.bucket, [DeleteObject(n) for n in names])
            )
            if errors:
                raise CheckpointStoreError(f"could not delete: {errors}")
            return len(names)

        return self._retrying(f"deleting {len(names)} objects", remove) if names else 0

    @staticmethod
    def is_missing(exc: BaseException) -> bool:
        """True when the store said the object (or bucket) does not exist."""
        code = getattr(exc, "code", "")
        if code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject"):
            return True
        # Some servers (rclone) answer 404 with a body minio cannot parse.
        text = str(exc)
        return "Response code: 404" in text or "<Code>NoSuchKey</Code>" in text
