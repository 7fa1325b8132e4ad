"""S3-compatible object store access for checkpoints (MinIO, AWS S3, GCS interop, rclone).

Runs on Ray workers, which write and read checkpoints next to the data, so the values never
pass through Airflow. An upload is a hand-off between two threads: the encoder writes while a
thread sends what it wrote as a multipart upload, so encoding and network overlap and at most
two parts (2 x 64 MiB) are queued, never a second copy of the value. A download is read whole into
one buffer of the size the (authenticated) manifest gives, so its SHA-256 is checked before a
decoder sees a byte. Uploads checksum the bytes as they go by (see ``checksums``). Connection
failures are retried with exponential backoff, then reported with the endpoint.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any, TypeVar

from ray_provider.runtime.checksums import Checksum, new_checksum
from ray_provider.runtime.errors import CheckpointStoreError

PART_SIZE = 64 * 1024 * 1024
# Downloads are read (and checksummed) in chunks of this size.
CHUNK_SIZE = 16 * 1024 * 1024
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
    # The deployment key: signs manifests on write, authenticates them on read.
    signing_key: bytes | None = None

    def __repr__(self) -> str:  # never print the secrets
        return (
            f"StoreConfig(endpoint={self.endpoint!r}, bucket={self.bucket!r}, "
            f"prefix={self.prefix!r})"
        )

    @property
    def endpoint_url(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.endpoint}"

    def uri(self, name: str = "") -> str:
        return f"s3://{self.bucket}/{name}"


def _stable_view(data: Any) -> memoryview:
    """A view of ``data`` that stays valid after ``write`` returns, copying only if needed.

    ``bytes`` are immutable, and the pyarrow Buffers that Arrow's IPC writer hands over are the
    columns' own memory, which nothing rewrites while the value is being checkpointed: both are
    queued as they are (a copy of a 1 GB frame costs seconds here). Anything else (a
    bytearray, a scratch buffer) may be reused by the writer after the call, so it is copied.
    """
    if isinstance(data, bytes) or type(data).__module__.startswith("pyarrow"):
        return memoryview(data).cast("B")
    return memoryview(bytes(data))


class _Handoff:
    """Bytes handed from the encoding thread to the uploading thread (at most ``limit`` queued).

    The uploader reads whole parts in one call, so a part is assembled with one join rather
    than by growing a bytes object chunk by chunk.
    """

    def __init__(self, limit: int) -> None:
        self._chunks: deque[memoryview] = deque()
        self._queued = 0
        self._limit = limit
        self._finished = False
        self._aborted = False
        self._changed = threading.Condition()

    def write(self, data: Any) -> int:
        chunk = _stable_view(data)
        with self._changed:
            while self._queued >= self._limit and not self._aborted:
                self._changed.wait()
            if self._aborted:
                raise BrokenPipeError("the upload stopped")
            self._chunks.append(chunk)
            self._queued += len(chunk)
            self._changed.notify_all()
        return len(chunk)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass  # the end of the data is marked by ``finish``, once the encoder is done

    def finish(self) -> None:
        with self._changed:
            self._finished = True
            self._changed.notify_all()

    def abort(self) -> None:
        with self._changed:
            self._aborted = True
            self._changed.notify_all()

    def read(self, size: int = -1) -> bytes:
        pieces: list[memoryview] = []
        wanted = size if size >= 0 else float("inf")
        got = 0
        with self._changed:
            while got < wanted:
                while not self._chunks and not self._finished:
                    self._changed.wait()
                if not self._chunks:
                    break
                chunk = self._chunks.popleft()
                if got + len(chunk) > wanted:
                    keep = int(wanted - got)
                    self._chunks.appendleft(chunk[keep:])
                    chunk = chunk[:keep]
                self._queued -= len(chunk)
                pieces.append(chunk)
                got += len(chunk)
                self._changed.notify_all()
        return b"".join(pieces)


class HashingWriter:
    """Write end of an upload: counts and checksums every byte on its way to the pipe."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.checksum: Checksum = new_checksum()
        self.size = 0
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.checksum.update(view)
        self._handle.write(view)
        self.size += len(view)
        return len(view)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._handle.flush()

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        """Arrow closes its sink when done; the upload is finished by ``upload_stream``."""
        self._handle.flush()


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

    @contextlib.contextmanager
    def upload_stream(self, name: str, length: int = -1) -> Iterator[HashingWriter]:
        """Yield a writer whose bytes are uploaded to ``name`` as they are written.

        ``length``, when the caller knows it, spares the client two copies of every part
        (with an unknown length minio reads one byte more per part and slices it off).

        Not retried here (the bytes are consumed as they go); the caller retries the whole
        write. If the upload fails, the writer gets a BrokenPipeError and the upload's error
        is raised instead.
        """
        handoff = _Handoff(limit=2 * PART_SIZE)
        writer = HashingWriter(handoff)
        failure: list[BaseException] = []

        def send() -> None:
            try:
                self._client.put_object(
                    self.config.bucket, name, handoff, length=length, part_size=PART_SIZE
                )
            except BaseException as exc:
                failure.append(exc)
            finally:
                handoff.abort()  # a writer still writing gets BrokenPipeError

        thread = threading.Thread(target=send, name=f"upload-{name}", daemon=True)
        thread.start()
        stopped_early = False
        try:
            yield writer
        except BrokenPipeError:
            stopped_early = True  # the upload stopped: its own error is raised below
        finally:
            handoff.finish()
            thread.join()
        if stopped_early and not failure:
            failure.append(RuntimeError("the upload ended before all bytes were sent"))
        if failure:
            raise self._transfer_error(f"uploading {self.config.uri(name)}", failure[0])

    def download_exact(self, name: str, size: int) -> tuple[memoryview, Checksum]:
        """The object ``name``, read whole into one buffer, and the checksum of its bytes.

        ``size`` is what the manifest says; an object longer than that is cut off at
        ``size + 1`` bytes (the caller refuses it), so a hostile object cannot fill memory.
        """

        def fetch() -> tuple[memoryview, Checksum]:
            response = self._client.get_object(self.config.bucket, name)
            buffer = bytearray(size + 1)
            view = memoryview(buffer)
            checksum = new_checksum()
            got = 0
            # The checksum runs in a thread of its own (hashlib releases the GIL), one chunk
            # behind the download, so hashing costs no time on top of the transfer.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256") as hasher:
                hashed = []
                try:
                    while got <= size:
                        count = response.readinto(view[got : min(got + CHUNK_SIZE, size + 1)])
                        if not count:
                            break
                        hashed.append(hasher.submit(checksum.update, view[got : got + count]))
                        got += count
                finally:
                    response.close()
                    response.release_conn()
                for done in hashed:
                    done.result()
            return view[:got], checksum

        return self._retrying(f"downloading {self.config.uri(name)}", fetch)

    def _transfer_error(self, what: str, exc: BaseException) -> BaseException:
        from minio.error import S3Error

        if isinstance(exc, S3Error) or self.is_missing(exc):
            return exc
        error = CheckpointStoreError(
            f"{what} failed against the S3 endpoint {self.config.endpoint_url} (connection "
            f"{self.config.conn_id!r}): {type(exc).__name__}: {exc}"
        )
        error.__cause__ = exc
        return error

    def put_bytes(self, name: str, data: bytes) -> None:
        import io

        self._retrying(
            f"uploading {self.config.uri(name)}",
            lambda: self._client.put_object(self.config.bucket, name, io.BytesIO(data), len(data)),
        )

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
