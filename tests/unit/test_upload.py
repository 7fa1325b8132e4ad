"""The upload hand-off, the download, and the retry layer of ``ray_provider.runtime.store``.

An in-memory S3 (``MemoryS3``, the few ``minio.Minio`` calls the store makes) stands in for the
server, so the pure logic runs in milliseconds: bytes handed from the encoding thread to the
uploading one arrive whole and in order, the queue between them is bounded, a failed upload
stops the encoder with the upload's own error, a download is checksummed and bounded, and a
checkpoint write is retried as a whole with each call inside it tried once. The same code
against a real S3 server: ``tests/integration/test_checkpoints.py``.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from minio.error import S3Error

from ray_provider.runtime import checkpoint_io, store
from ray_provider.runtime.errors import CheckpointStoreError, StoreAccessDeniedError
from ray_provider.runtime.store import S3Store, StoreConfig, _Handoff, retrying

CONFIG = StoreConfig.for_endpoint(
    "http://store.test:9000",
    "bucket",
    access_key="key",
    secret_key="secret",
    conn_id="s3_test",
    attempts=3,
    backoff_seconds=0,
    signing_key=b"k" * 32,
)


class Response:
    """What ``get_object`` returns: a readable body that must be closed and released."""

    def __init__(self, data: bytes, headers: dict[str, str] | None = None) -> None:
        self._data, self._at = data, 0
        self.headers = headers or {}
        self.closed = self.released = False

    def readinto(self, buffer: memoryview) -> int:
        count = min(len(buffer), len(self._data) - self._at)
        buffer[:count] = self._data[self._at : self._at + count]
        self._at += count
        return count

    def read(self) -> bytes:
        rest, self._at = self._data[self._at :], len(self._data)
        return rest

    def close(self) -> None:
        self.closed = True

    def release_conn(self) -> None:
        self.released = True


@dataclass
class MemoryS3:
    """An S3 bucket in a dict. ``failures`` lists exceptions the next ``put_object`` calls raise
    (after reading ``fail_after`` bytes of their body), one per call, then calls succeed."""

    objects: dict[str, bytes] = field(default_factory=dict)
    failures: list[BaseException] = field(default_factory=list)
    fail_after: int = 0
    calls: list[tuple[str, str]] = field(default_factory=list)
    parts: list[int] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    ranges: list[tuple[int, int]] = field(default_factory=list)

    def bucket_exists(self, bucket: str) -> bool:
        self.calls.append(("bucket_exists", bucket))
        return True

    def put_object(
        self,
        bucket: str,
        name: str,
        data: Any,
        length: int,
        part_size: int = 0,
        num_parallel_uploads: int = 3,
    ):
        self.calls.append(("put_object", name))
        if self.failures:
            data.read(self.fail_after)
            raise self.failures.pop(0)
        chunks = []
        while length < 0 or sum(map(len, chunks)) < length:
            want = part_size or length
            if length >= 0:
                want = min(want, length - sum(map(len, chunks)))
            chunk = data.read(want)
            if not chunk:
                break
            self.parts.append(len(chunk))
            chunks.append(chunk)
        self.objects[name] = b"".join(chunks)

    def get_object(self, bucket: str, name: str, offset: int = 0, length: int = 0) -> Response:
        self.calls.append(("get_object", name))
        if name not in self.objects:
            raise s3_error("NoSuchKey")
        data = self.objects[name]
        headers = {}
        if offset or length:  # a ranged GET, answered as S3 does
            end = min(len(data), offset + length) if length else len(data)
            self.ranges.append((offset, end - offset))
            headers["Content-Range"] = f"bytes {offset}-{end - 1}/{len(data)}"
            data = data[offset:end]
        response = Response(data, headers)
        self.responses.append(response)
        return response

    def list_objects(self, bucket: str, prefix: str, recursive: bool = False):
        return [
            SimpleNamespace(object_name=n, size=len(d), last_modified=datetime.now(UTC))
            for n, d in sorted(self.objects.items())
            if n.startswith(prefix)
        ]


def s3_error(code: str) -> S3Error:
    return S3Error(None, code, f"{code} from the test", "/bucket/x", "req", "host")


def test_handed_off_bytes_arrive_whole_in_order_and_checksummed():
    s3 = MemoryS3()
    scratch = bytearray(b"a" * 1000)
    pieces = [b"head", memoryview(b"x" * 4096), scratch, np.arange(300, dtype="int32")]
    expected = b"".join(bytes(memoryview(p).cast("B")) for p in pieces)
    with S3Store(CONFIG, client=s3).upload_stream("obj") as writer:
        for piece in pieces:
            writer.write(piece)
        scratch[:] = b"b" * 1000  # the writer reuses its buffer: what was written stays
    assert s3.objects["obj"] == expected
    assert writer.size == len(expected) == writer.tell()
    assert writer.checksum.hexdigest() == hashlib.sha256(expected).hexdigest()


def test_a_known_length_is_sent_in_parts_of_the_part_size(monkeypatch):
    monkeypatch.setattr(store, "PART_SIZE", 1000)
    s3 = MemoryS3()
    with S3Store(CONFIG, client=s3).upload_stream("obj", length=2500) as writer:
        for _ in range(5):
            writer.write(b"z" * 500)
    assert s3.parts == [1000, 1000, 500] and s3.objects["obj"] == b"z" * 2500


def test_the_handoff_queue_is_bounded_until_the_reader_takes_a_part():
    handoff = _Handoff(limit=100)
    wrote_second = threading.Event()

    def encoder() -> None:
        handoff.write(b"1" * 100)  # fills the queue
        handoff.write(b"2" * 100)  # blocks until the uploader reads
        wrote_second.set()
        handoff.finish()

    thread = threading.Thread(target=encoder, daemon=True)
    thread.start()
    assert not wrote_second.wait(0.3), "a full queue let the encoder write on"
    assert handoff.read(60) == b"1" * 60  # a part: the queue has room again
    assert wrote_second.wait(10)
    assert handoff.read() == b"1" * 40 + b"2" * 100
    assert handoff.read() == b""  # finished: the uploader sees the end
    thread.join(10)


def test_a_failed_upload_stops_the_encoder_with_the_uploads_error(monkeypatch):
    monkeypatch.setattr(store, "PART_SIZE", 64)  # the queue holds 128 bytes
    s3 = MemoryS3(failures=[ConnectionResetError("connection reset by peer")], fail_after=10)
    written = 0
    with (
        pytest.raises(CheckpointStoreError) as info,
        S3Store(CONFIG, client=s3).upload_stream("obj") as writer,
    ):
        for _ in range(1000):  # more than the queue holds: it must not hang
            writer.write(b"y" * 64)
            written += 1
    message = str(info.value)
    assert "uploading s3://bucket/obj failed against the S3 endpoint" in message
    assert "http://store.test:9000 (connection 's3_test')" in message
    assert "ConnectionResetError: connection reset by peer" in message
    assert written < 1000 and "obj" not in s3.objects


def test_an_answer_from_the_store_is_raised_as_it_is():
    s3 = MemoryS3(failures=[s3_error("NoSuchBucket")])
    with (
        pytest.raises(S3Error, match="NoSuchBucket"),
        S3Store(CONFIG, client=s3).upload_stream("obj") as writer,
    ):
        writer.write(b"data")


def test_a_refusal_names_the_credentials_and_never_the_secret():
    s3 = MemoryS3(failures=[s3_error("AccessDenied")])
    with (
        pytest.raises(StoreAccessDeniedError) as refused,
        S3Store(CONFIG, client=s3).upload_stream("obj") as writer,
    ):
        writer.write(b"data")
    message = str(refused.value)
    assert "AccessDenied" in message and "access key 'key'" in message
    assert "(connection 's3_test')" in message and "secret" not in message


def test_download_is_checksummed_chunk_by_chunk_and_bounded(monkeypatch):
    monkeypatch.setattr(store, "CHUNK_SIZE", 1000)
    data = bytes(range(256)) * 40  # 10,240 bytes: eleven chunks
    s3 = MemoryS3(objects={"part": data, "longer": data + b"more"})
    client = S3Store(CONFIG, client=s3)

    got, checksum = client.download_exact("part", len(data))
    assert bytes(got) == data
    assert checksum.hexdigest() == hashlib.sha256(data).hexdigest()

    # An object longer than the manifest says is cut at size + 1: the caller refuses it.
    longer, _ = client.download_exact("longer", len(data))
    assert len(longer) == len(data) + 1
    assert all(r.closed and r.released for r in s3.responses)


def test_a_large_download_is_fetched_as_ranges_side_by_side_and_hashed_in_order(monkeypatch):
    monkeypatch.setattr(store, "RANGE_SIZE", 1000)
    monkeypatch.setattr(store, "CHUNK_SIZE", 300)  # several reads per range
    data = np.random.default_rng(0).integers(0, 256, 10_500, dtype="uint8").tobytes()
    s3 = MemoryS3(objects={"part": data})

    got, checksum = S3Store(CONFIG, client=s3).download_exact("part", len(data))
    assert bytes(got) == data
    assert checksum.hexdigest() == hashlib.sha256(data).hexdigest()
    assert sorted(s3.ranges) == [
        (start, min(1000, len(data) - start)) for start in range(0, 10_500, 1000)
    ]
    assert all(r.closed and r.released for r in s3.responses)


@pytest.mark.parametrize("extra", [b"more", b""])
def test_a_ranged_download_of_an_object_of_another_size_falls_back_to_the_bounded_read(
    monkeypatch, extra
):
    monkeypatch.setattr(store, "RANGE_SIZE", 1000)
    data = bytes(range(256)) * 20  # 5,120 bytes
    stored = data + extra if extra else data[:-10]  # longer, or shorter, than the manifest says
    s3 = MemoryS3(objects={"part": stored})

    got, checksum = S3Store(CONFIG, client=s3).download_exact("part", len(data))
    # Longer: cut at size + 1, shorter: what there is; the reader refuses both for their size.
    assert bytes(got) == (stored[: len(data) + 1] if extra else stored)
    assert checksum.hexdigest() == hashlib.sha256(bytes(got)).hexdigest()
    assert s3.ranges == [(0, 1000)]  # only the first range was asked for, then one whole GET
    assert all(r.closed and r.released for r in s3.responses)


def test_part_uploads_send_unsigned_payloads_on_http_only():
    from minio import Minio

    http = S3Store(CONFIG)
    body = b"x" * 1000
    headers, _ = http._part_client._build_headers("store.test:9000", {}, body, _creds())
    assert headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert headers["Content-Length"] == "1000" and "Content-MD5" not in headers
    # Everything else (the manifest, listings) keeps minio's signed payloads.
    assert type(http._client) is Minio
    signed, _ = http._client._build_headers("store.test:9000", {}, body, _creds())
    assert signed["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()
    # On https minio already sends UNSIGNED-PAYLOAD with a Content-MD5: left as it is.
    https = S3Store(
        StoreConfig.for_endpoint("https://store.test", "bucket", access_key="k", secret_key="s")
    )
    tls, _ = https._part_client._build_headers("store.test", {}, body, _creds())
    assert tls["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD" and "Content-MD5" in tls


def _creds():
    from minio.credentials import Credentials

    return Credentials("key", "secret")


def test_retrying_retries_only_failures_to_reach_the_store_doubling_the_wait():
    waits: list[float] = []
    outcomes: list[Any] = [CheckpointStoreError("down"), CheckpointStoreError("down"), "done"]

    def action() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert retrying("x", action, attempts=3, backoff_seconds=0.5, sleep=waits.append) == "done"
    assert waits == [0.5, 1.0]

    with pytest.raises(CheckpointStoreError, match=r"listing failed after 2 attempts; the last"):
        retrying("listing", lambda: (_ for _ in ()).throw(CheckpointStoreError("down")), 2, 0)
    calls = []
    with pytest.raises(KeyError):  # not a failure to reach the store: no second try
        retrying("x", lambda: calls.append(1) or {}["missing"], 3, 0)
    assert calls == [1]


def test_a_checkpoint_write_is_retried_whole_and_nothing_inside_it_twice():
    value = {"weights": np.arange(1000, dtype="float64"), "name": "higgs"}
    s3 = MemoryS3(failures=[TimeoutError("read timed out")])  # the first part's first try
    manifest = checkpoint_io.write_checkpoint(value, CONFIG, "run/task/-1/g1/", "dict", client=s3)

    puts = [name for call, name in s3.calls if call == "put_object"]
    parts = sorted(manifest["parts"])
    # Try 1 stopped at its first part; try 2 wrote every part once, then the manifest.
    assert puts[0] == puts[1] == "run/task/-1/g1/" + parts[0]
    assert puts[1:] == ["run/task/-1/g1/" + p for p in parts] + ["run/task/-1/g1/manifest.json"]
    assert [c for c, _ in s3.calls].count("bucket_exists") == 2  # once per try

    restored, _ = checkpoint_io.read_checkpoint(
        CONFIG, "run/task/-1/g1/", manifest["digest"], client=s3
    )
    assert restored["name"] == "higgs"
    np.testing.assert_array_equal(restored["weights"], value["weights"])


def test_a_write_that_never_reaches_the_store_fails_after_the_configured_attempts():
    s3 = MemoryS3(failures=[ConnectionRefusedError("refused")] * 5)
    with pytest.raises(CheckpointStoreError) as info:
        checkpoint_io.write_checkpoint(np.ones(10), CONFIG, "p/", "ndarray", client=s3)
    message = str(info.value)
    assert message.startswith("writing the checkpoint s3://bucket/p/ failed after 3 attempts")
    assert "http://store.test:9000" in message and "ConnectionRefusedError: refused" in message
    assert [c for c, _ in s3.calls].count("put_object") == 3  # 3 tries, 1 call each
    assert len(s3.failures) == 2


def test_a_write_the_store_refuses_is_not_retried():
    s3 = MemoryS3(failures=[s3_error("AccessDenied")])
    with pytest.raises(StoreAccessDeniedError, match="AccessDenied"):
        checkpoint_io.write_checkpoint(np.ones(10), CONFIG, "p/", "ndarray", client=s3)
    assert [c for c, _ in s3.calls].count("put_object") == 1


def test_config_from_connection_fields_names_a_bad_endpoint():
    config = StoreConfig.for_endpoint("", "b", access_key="", secret_key="")
    assert (config.endpoint, config.secure, config.region) == (
        "s3.amazonaws.com",
        True,
        "us-east-1",
    )
    assert config.access_key is None and config.secret_key is None
    with pytest.raises(ValueError, match=r"endpoint_url='minio:9000': expected http\(s\)://"):
        StoreConfig.for_endpoint("minio:9000", "b")


def test_the_manifest_names_xgboost_only_when_it_is_loaded(monkeypatch):
    import sys
    from types import ModuleType

    monkeypatch.delitem(sys.modules, "xgboost", raising=False)

    class NoXGBoost:
        def find_spec(self, name, path=None, target=None):
            assert name != "xgboost", "a checkpoint imported xgboost"

    monkeypatch.setattr(sys, "meta_path", [NoXGBoost(), *sys.meta_path])
    s3 = MemoryS3()
    manifest = checkpoint_io.write_checkpoint(np.ones(10), CONFIG, "p/", "ndarray", client=s3)
    assert "xgboost" not in manifest["versions"] and manifest["versions"]["ray"]

    loaded = ModuleType("xgboost")
    loaded.__version__ = "2.0.3"
    monkeypatch.setitem(sys.modules, "xgboost", loaded)
    assert checkpoint_io._versions()["xgboost"] == "2.0.3"
