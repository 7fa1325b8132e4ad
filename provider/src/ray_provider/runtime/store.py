"""The provider's one S3 client (MinIO, AWS S3, GCS interop, SeaweedFS, rclone), used by
checkpoints, run artifacts and the example DAG's ``s3://`` source.

Runs on Ray workers, which write and read checkpoints next to the data, so the values never
pass through Airflow, and it never imports Airflow. An upload is a hand-off between threads:
the encoder writes (and checksums) while a thread cuts what it wrote into parts of a multipart
upload that ``UPLOAD_STREAMS`` connections send side by side, so encoding, hashing and network
overlap and at most two parts (2 x 64 MiB) are queued besides those in flight, never a second
copy of the value. A download is read whole into one buffer of the size the (authenticated)
manifest gives, so its SHA-256 is checked before a decoder sees a byte; a large one is fetched
as byte ranges over ``DOWNLOAD_STREAMS`` connections into that buffer, and hashed in order as
the ranges arrive. Uploads checksum the bytes as they go by (see ``checksums``).

Part bodies travel with ``UNSIGNED-PAYLOAD`` on plain http, as minio already sends every body
on https: the request (who, where, when) is still signed, but the client and the server no
longer each hash every byte a second time for the signature. The bytes are covered end to
end instead by the part's SHA-256 in the manifest, which is signed with the deployment key and
checked by every reader before it decodes: a body altered on the way is refused at read, as a
part altered in the bucket is. Small objects (the manifest, artifacts) keep signed payloads.

Credentials: the config's keys (maybe temporary, with a session token); or, for a connection
without keys, the machine's own, looked up here on the side that does the I/O: the AWS chain
(``credential_chain``: environment, web identity token, container or instance metadata),
whose expiring keys minio refreshes; or for GCS Google's (``google_token``: GKE Workload
Identity and the rest of Application Default Credentials), an OAuth 2.0 token sent as
``Authorization: Bearer`` where a signature would go, refreshed before it expires.

Retries, in one layer: every call of ``S3Store`` is one operation, and a failure to reach the
store is retried with exponential backoff (``retrying``: ``StoreConfig.attempts`` tries, the
first wait ``backoff_seconds``, doubling) around the whole operation, then reported with the
endpoint. An answer from the store (an S3 error, a 404) is not retried: it would not change. A
streamed upload cannot be retried by itself (its bytes are consumed once), so a checkpoint write
is retried as a whole by its caller on a store made with ``attempts=1``
(``checkpoint_io.write_checkpoint``). Below that, the HTTP pool resends one request once (a
pooled connection the server closed, a 502/503/504 from a proxy): request hygiene, not policy.

Public, for code on Ray workers (no Airflow there): ``StoreConfig.for_endpoint`` and
``S3Store``'s ``put_bytes``, ``get_bytes``, ``size``, ``download_file``, ``list``, ``delete``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import IO, Any, TypeVar
from urllib.parse import urlparse

from ray_provider.runtime.checksums import Checksum, new_checksum
from ray_provider.runtime.credential_chain import cached_credentials
from ray_provider.runtime.errors import (
    CheckpointError,
    CheckpointStoreError,
    StoreAccessDeniedError,
    StoreCredentialsError,
)
from ray_provider.runtime.google_token import (
    GoogleAccessToken,
    cached_google_token,
    is_google_endpoint,
)

PART_SIZE = 64 * 1024 * 1024
# Parts of one upload sent at the same time (minio's ``num_parallel_uploads``).
UPLOAD_STREAMS = 3
# Downloads are read (and checksummed) in chunks of this size.
CHUNK_SIZE = 16 * 1024 * 1024
# A download of at least two ranges is fetched as byte ranges of this size, this many at once.
RANGE_SIZE = 32 * 1024 * 1024
DOWNLOAD_STREAMS = 3
# The endpoint when a connection gives none.
AWS_ENDPOINT = "https://s3.amazonaws.com"
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
    # Temporary credentials (an assumed role, or keys given with their token) carry these.
    session_token: str | None = None
    expires_at: float | None = None  # seconds since the epoch
    # Where the keys came from, in words, for error messages ("role ... assumed by Airflow").
    credential_source: str = ""
    # No keys given: the process doing the I/O looks them up (``credential_chain``), trading a
    # web identity token at ``sts_endpoint`` unless AWS_ENDPOINT_URL_STS says otherwise.
    credential_chain: bool = False
    sts_endpoint: str = ""
    # Which chain: "aws" (``credential_chain``), "google" (``google_token``: an OAuth 2.0
    # token, for GCS), or "auto": Google's for storage.googleapis.com, else AWS's.
    credential_chain_kind: str = "auto"

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

    @property
    def uses_google_chain(self) -> bool:
        """No keys, and Google's credentials (an OAuth 2.0 token) rather than AWS's."""
        if not self.credential_chain:
            return False
        if self.credential_chain_kind == "auto":
            return is_google_endpoint(self.endpoint)
        return self.credential_chain_kind == "google"

    @classmethod
    def for_endpoint(
        cls,
        endpoint_url: str | None,
        bucket: str,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        session_token: str | None = None,
        region: str | None = None,
        prefix: str = "",
        conn_id: str = "",
        **options: Any,
    ) -> StoreConfig:
        """A config from an ``aws`` connection's fields: ``endpoint_url`` as in its extra.

        ``endpoint_url`` is ``http(s)://HOST[:PORT]`` (AWS S3 when empty); ``region`` defaults
        to us-east-1 (which MinIO and rclone need); empty keys mean anonymous access.
        ``options`` are the other fields (``attempts``, ``backoff_seconds``, ``signing_key``).
        Raises ``ValueError`` naming the field for an endpoint that is not a URL.
        """
        parsed = urlparse(endpoint_url or AWS_ENDPOINT)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(
                f"endpoint_url={endpoint_url!r}: expected http(s)://HOST[:PORT], "
                "e.g. http://minio:9000."
            )
        return cls(
            endpoint=parsed.netloc,
            secure=parsed.scheme == "https",
            access_key=access_key or None,
            secret_key=secret_key or None,
            session_token=session_token or None,
            region=region or "us-east-1",
            bucket=bucket,
            prefix=prefix,
            conn_id=conn_id,
            **options,
        )


# The store's answers that mean "these credentials may not do this": named with their source.
CREDENTIAL_REFUSALS = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "InvalidTokenId",
        "InvalidClientTokenId",
        "TokenRefreshRequired",
        # GCS's XML API, for a missing or refused OAuth 2.0 token.
        "AuthenticationRequired",
        "MissingSecurityHeader",
    }
)


# The store's answers that mean "something behind me failed, try again" (S3's own advice for
# them): retried like an unreachable store, and reported with where to look.
SERVER_FAULTS = frozenset({"InternalError", "ServiceUnavailable", "SlowDown"})
# What a 5xx usually means when the endpoint is a gateway, as the chart's Azure store is.
GATEWAY_HINT = (
    "When the endpoint is an S3 gateway (the chart's store.kind azureblob runs s3proxy in front "
    "of Azure Blob Storage), a 5xx means the gateway could not reach or sign in to the storage "
    "behind it, and its log says why: kubectl logs deploy/<release>-azureblob."
)


def server_fault(exc: BaseException) -> str:
    """The code or status of a 5xx answer (an S3 ``InternalError``, a bare HTTP 500), or ""."""
    code = getattr(exc, "code", "")
    if code in SERVER_FAULTS:
        return f"{code} ({getattr(exc, 'message', '')})"
    status = getattr(exc, "status_code", None)
    if type(exc).__name__ == "ServerError" and isinstance(status, int) and status >= 500:
        return f"HTTP {status}"
    return ""


def access_denied(
    config: StoreConfig, what: str, code: str, message: str
) -> StoreAccessDeniedError:
    """The error for a refusal: the operation, the credentials used (never the secret), a fix."""
    conn = f" (connection {config.conn_id!r})" if config.conn_id else ""
    source = config.credential_source or (
        f"access key {config.access_key!r}" if config.access_key else "no credentials (anonymous)"
    )
    expiry = ""
    if config.expires_at is not None:
        left = config.expires_at - time.time()
        expiry = (
            f"; they expired {-left:.0f}s ago" if left <= 0 else f"; they expire in {left:.0f}s"
        )
    return StoreAccessDeniedError(
        f"{what} was refused by {config.endpoint_url}{conn}: {code}: {message}. "
        f"Credentials used: {source}{expiry}. Give them access to bucket {config.bucket!r}, or "
        "fix the connection's keys, role_arn or token."
    )


def retrying(
    what: str,
    action: Callable[[], T],
    attempts: int,
    backoff_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``action()``, tried up to ``attempts`` times while it fails to reach the store.

    Only ``CheckpointStoreError`` (the store could not be reached, see ``S3Store``) is retried,
    after ``backoff_seconds``, then twice that, and so on; anything else (an answer from the
    store, a bug) is raised at once. After the last attempt the error says how many there were
    and what the last one met.
    """
    delay = backoff_seconds
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except CheckpointStoreError as exc:
            if attempt == attempts:
                if attempts == 1:
                    raise
                raise CheckpointStoreError(
                    f"{what} failed after {attempts} attempts; the last: {exc}. Check that the "
                    "store is running and reachable from the Ray workers."
                ) from exc
            sleep(delay)
            delay *= 2
    raise AssertionError("attempts must be at least 1")


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


def _empty_buffer(size: int) -> Any:
    """A writable buffer of ``size`` bytes, not zero-filled first: anonymous memory.

    The kernel hands out zeroed pages as they are first written, so nothing is written twice
    (a ``bytearray`` is zero-filled first), and in ordinary pages: ``numpy.empty`` asks for huge
    pages (``MADV_HUGEPAGE``), whose first writes stalled compacting memory while the page cache
    was full of what the store had just written (filling 1.2 GB: 17 - 20 s here, against 1 - 4 s
    for this or a ``bytearray``).
    """
    import mmap

    return mmap.mmap(-1, max(size, 1))


def _read_into(response: Any, view: memoryview) -> int:
    """Read from ``response`` until ``view`` is full or the body ends; the bytes read."""
    got = 0
    while got < len(view):
        count = response.readinto(view[got : got + CHUNK_SIZE])
        if not count:
            break
        got += count
    return got


def _close(response: Any) -> None:
    response.close()
    response.release_conn()


def _content_range_total(headers: Any) -> int | None:
    """The object's full length from a ranged GET's ``Content-Range: bytes A-B/TOTAL``."""
    value = headers.get("Content-Range") or headers.get("content-range") or ""
    total = value.rpartition("/")[2]
    return int(total) if total.isdigit() else None


# The shape of minio's (private) ``Minio._build_headers`` the subclasses below were written for.
_BUILD_HEADERS_PARAMETERS = ["self", "host", "headers", "body", "creds"]


def _build_headers_as_expected() -> bool:
    import inspect

    from minio import Minio

    method = getattr(Minio, "_build_headers", None)
    return method is not None and list(inspect.signature(method).parameters) == (
        _BUILD_HEADERS_PARAMETERS
    )


def _unsigned_payload_minio() -> type:
    """``minio.Minio`` sending request bodies as ``UNSIGNED-PAYLOAD`` on plain http too.

    minio signs a body's SHA-256 on http (and sends ``UNSIGNED-PAYLOAD`` plus a Content-MD5 on
    https); this client only stops hashing the body on http. The request is still signed.
    Used for checkpoint parts alone, whose SHA-256 the signed manifest holds (module doc).

    ``_build_headers`` is minio's own (private) method, checked here against the shape this
    override was written for (minio 7.2): another minio gets the plain client, whose signed
    bodies are only slower, never wrong.
    """
    from minio import Minio

    if not _build_headers_as_expected():
        return Minio

    class UnsignedPayloadMinio(Minio):
        def _build_headers(self, host, headers=None, body=None, creds=None):
            if body is None or creds is None or self._base_url.is_https:
                return super()._build_headers(host, headers, body, creds)
            headers, date = super()._build_headers(host, headers, None, creds)
            headers["Content-Length"] = str(len(body))
            headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
            return headers, date

    return UnsignedPayloadMinio


def _bearer_minio(token: GoogleAccessToken) -> type:
    """``minio.Minio`` that sends ``Authorization: Bearer <token>`` instead of a signature.

    minio signs nothing when it has no credentials; this client then adds the OAuth 2.0 token
    that GCS's XML API takes in place of an HMAC signature (bodies keep minio's Content-MD5,
    which GCS checks). It rests on minio's private ``_build_headers``: with another shape of
    it there is no safe fallback (the requests would go out anonymous), so it refuses.
    """
    from minio import Minio

    if not _build_headers_as_expected():
        import minio

        raise StoreCredentialsError(
            f"minio {minio.__version__} builds its requests differently from the 7.2 line this "
            "provider adds Google's bearer token to: install minio>=7.2,<8, or give the GCS "
            "connection an HMAC key (login/password)."
        )

    class BearerMinio(Minio):
        def _build_headers(self, host, headers=None, body=None, creds=None):
            headers, date = super()._build_headers(host, headers, body, None)
            headers["Authorization"] = token.authorization()
            return headers, date

    return BearerMinio


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
    """The store at ``config``; every method is one operation, retried as the module doc says.

    :param config: where and how (``StoreConfig``).
    :param attempts: tries per operation; ``config.attempts`` by default, 1 when the caller
        retries a larger operation as a whole.
    :param client: a ``minio.Minio``-compatible client (tests pass an in-memory one).
    """

    def __init__(self, config: StoreConfig, *, attempts: int | None = None, client: Any = None):
        provider: Any = None
        token: GoogleAccessToken | None = None
        if client is None and config.uses_google_chain:
            token = cached_google_token()
            config = replace(config, credential_source=token.source)
        elif client is None and config.credential_chain:
            found = cached_credentials(config.region, config.sts_endpoint)
            config = replace(config, credential_source=found.source)
            provider = found.provider
        self.config = config
        self.attempts = config.attempts if attempts is None else attempts
        self._client = client if client is not None else self._minio(config, provider, token)
        # Streamed part uploads: bodies sent unsigned (see the module doc).
        self._part_client = (
            client
            if client is not None
            else self._minio(config, provider, token, unsigned_payload=True)
        )

    @staticmethod
    def _minio(
        config: StoreConfig,
        provider: Any = None,
        token: GoogleAccessToken | None = None,
        unsigned_payload: bool = False,
    ) -> Any:
        """A minio client with the config's keys, ``provider`` (the AWS chain's) or ``token``
        (Google's, sent as a bearer token instead of a signature)."""
        import urllib3
        from minio import Minio

        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5.0, read=120.0),
            retries=urllib3.Retry(total=1, backoff_factor=0.2, status_forcelist=[502, 503, 504]),
            # One connection per parallel part (or range), plus the one that reads ahead.
            maxsize=max(UPLOAD_STREAMS, DOWNLOAD_STREAMS) + 1,
        )
        if token is not None:
            return _bearer_minio(token)(
                config.endpoint, secure=config.secure, region=config.region, http_client=http
            )
        client_class = _unsigned_payload_minio() if unsigned_payload else Minio
        return client_class(
            config.endpoint,
            access_key=config.access_key,
            secret_key=config.secret_key,
            session_token=config.session_token,
            secure=config.secure,
            region=config.region,
            http_client=http,
            credentials=provider,
        )

    def _retrying(self, what: str, action: Callable[[], T]) -> T:
        """``action`` as one operation: a failure to reach the store is retried (``retrying``)."""

        def once() -> T:
            try:
                return action()
            except CheckpointStoreError:
                raise
            except Exception as exc:
                error = self._transfer_error(what, exc)
                if error is exc:
                    raise
                raise error from exc

        return retrying(what, once, self.attempts, self.config.backoff_seconds)

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

        Never retried (the bytes are consumed as they go): the caller retries the whole write.
        If the upload fails, the writer gets a BrokenPipeError and the upload's error (a
        ``CheckpointStoreError`` when the store could not be reached) is raised instead.
        """
        handoff = _Handoff(limit=2 * PART_SIZE)
        writer = HashingWriter(handoff)
        failure: list[BaseException] = []

        def send() -> None:
            try:
                self._part_client.put_object(
                    self.config.bucket,
                    name,
                    handoff,
                    length=length,
                    part_size=PART_SIZE,
                    num_parallel_uploads=UPLOAD_STREAMS,
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
        An object of at least two ``RANGE_SIZE`` ranges whose length the store confirms is
        fetched range by range, ``DOWNLOAD_STREAMS`` at a time, into the same buffer.
        """

        def fetch() -> tuple[memoryview, Checksum]:
            # Not zero-filled first: every byte returned is one the download wrote.
            view = memoryview(_empty_buffer(size + 1))
            if size >= 2 * RANGE_SIZE:
                fetched = self._fetch_ranges(name, size, view)
                if fetched is not None:
                    return view[:size], fetched
            return self._fetch_whole(name, size, view)

        return self._retrying(f"downloading {self.config.uri(name)}", fetch)

    def _fetch_whole(self, name: str, size: int, view: memoryview) -> tuple[memoryview, Checksum]:
        """One GET, read into ``view`` (at most ``size + 1`` bytes) and checksummed."""
        response = self._client.get_object(self.config.bucket, name)
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
                _close(response)
            for done in hashed:
                done.result()
        return view[:got], checksum

    def _fetch_ranges(self, name: str, size: int, view: memoryview) -> Checksum | None:
        """Fill ``view[:size]`` with byte ranges fetched side by side; their checksum, in order.

        ``None`` (nothing is trusted from it) when the store does not confirm, in the first
        range's ``Content-Range``, that the object has exactly ``size`` bytes, or when a range
        comes back short: the caller then reads the object whole, bounded, and the reader
        refuses it for its size.
        """
        ranges = [(start, min(RANGE_SIZE, size - start)) for start in range(0, size, RANGE_SIZE)]
        first = self._client.get_object(self.config.bucket, name, offset=0, length=ranges[0][1])
        total = _content_range_total(getattr(first, "headers", None) or {})
        if total != size:
            _close(first)
            return None

        def read_range(response: Any, start: int, length: int) -> bool:
            try:
                return _read_into(response, view[start : start + length]) == length
            finally:
                _close(response)

        def fetch_range(start: int, length: int) -> bool:
            response = self._client.get_object(
                self.config.bucket, name, offset=start, length=length
            )
            return read_range(response, start, length)

        checksum = new_checksum()
        with ThreadPoolExecutor(DOWNLOAD_STREAMS, thread_name_prefix="s3-range") as pool:
            futures = [pool.submit(fetch_range, *r) for r in ranges[1:]]
            try:
                complete = read_range(first, *ranges[0])
                # Hashed in order as the ranges land (hashlib releases the GIL), while the
                # later ranges are still downloading.
                checksum.update(view[: ranges[0][1]])
                for (start, length), future in zip(ranges[1:], futures, strict=True):
                    complete = future.result() and complete
                    checksum.update(view[start : start + length])
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return checksum if complete else None

    def _transfer_error(self, what: str, exc: BaseException) -> BaseException:
        """``exc`` as raised to the caller: an answer from the store as it is, anything else
        (the store could not be reached) as a ``CheckpointStoreError`` naming the endpoint."""
        conn = f" (connection {self.config.conn_id!r})" if self.config.conn_id else ""
        code = getattr(exc, "code", "")
        if self.is_answer(exc) and code in CREDENTIAL_REFUSALS:
            return access_denied(self.config, what, code, getattr(exc, "message", str(exc)))
        fault = server_fault(exc)
        if fault:
            error = CheckpointStoreError(
                f"{what} failed against the S3 endpoint {self.config.endpoint_url}{conn}: the "
                f"store answered {fault}. {GATEWAY_HINT}"
            )
            error.__cause__ = exc
            return error
        if self.is_answer(exc) or self.is_missing(exc) or isinstance(exc, CheckpointError):
            return exc
        error = CheckpointStoreError(
            f"{what} failed against the S3 endpoint {self.config.endpoint_url}{conn}: "
            f"{type(exc).__name__}: {exc}"
        )
        error.__cause__ = exc
        return error

    def put_bytes(self, name: str, data: bytes) -> None:
        """Store ``data`` (small: it is sent from memory in one request) as ``name``."""
        import io

        self._retrying(
            f"uploading {self.config.uri(name)}",
            lambda: self._client.put_object(self.config.bucket, name, io.BytesIO(data), len(data)),
        )

    def get_bytes(self, name: str) -> bytes:
        """The whole object ``name`` (small ones: see ``download_exact`` for checkpoint parts)."""

        def fetch() -> bytes:
            response = self._client.get_object(self.config.bucket, name)
            try:
                return response.read()
            finally:
                _close(response)

        return self._retrying(f"downloading {self.config.uri(name)}", fetch)

    def size(self, name: str) -> int:
        """The size in bytes of the object ``name``."""
        return self._retrying(
            f"looking up {self.config.uri(name)}",
            lambda: self._client.stat_object(self.config.bucket, name).size,
        )

    def download_file(self, name: str, path: str) -> None:
        """Download the object ``name`` into the file ``path``, streaming.

        The client writes a temporary file next to ``path`` and renames it when the object is
        complete, so an interrupted download never leaves ``path`` behind.
        """
        self._retrying(
            f"downloading {self.config.uri(name)}",
            lambda: self._client.fget_object(self.config.bucket, name, path),
        )

    def list(self, prefix: str) -> list[dict[str, Any]]:
        """Every object under ``prefix``: ``name``, ``size``, ``modified``."""

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
    def is_answer(exc: BaseException) -> bool:
        """True when ``exc`` is the store's answer (an S3 error), not a failure to reach it."""
        from minio.error import S3Error

        return isinstance(exc, S3Error)

    @staticmethod
    def is_missing(exc: BaseException) -> bool:
        """True when the store said the object (or bucket) does not exist."""
        code = getattr(exc, "code", "")
        if code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject"):
            return True
        # Some servers (rclone) answer 404 with a body minio cannot parse.
        text = str(exc)
        return "Response code: 404" in text or "<Code>NoSuchKey</Code>" in text
