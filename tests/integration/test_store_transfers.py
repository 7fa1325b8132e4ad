"""``S3Store``'s transfers against real servers: MinIO (the platform's) and rclone (a quirk).

Parts small enough to make many of them: an upload cut into several multipart parts sent side
by side must arrive whole and in order with the checksum of what was written; a download
fetched as byte ranges side by side must be the object, hashed in order; an object of another
size than the manifest says must come back bounded, for the reader to refuse. rclone stays in
the suite for one thing MinIO does not do: it answers a missing object with a 404 whose body
the minio client cannot parse (``S3Store.is_missing``).
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest

from devstack.s3_server import RcloneS3Server, S3Server
from ray_provider.runtime import store
from ray_provider.runtime.store import S3Store, StoreConfig

MIB = 2**20


@pytest.fixture(scope="module")
def rclone() -> S3Server:
    server = RcloneS3Server().start()
    try:
        yield server
    finally:
        server.discard()


@pytest.fixture(params=["minio", "rclone"])
def server(request, s3, rclone) -> S3Server:
    return {"minio": s3, "rclone": rclone}[request.param]


def store_for(server: S3Server) -> S3Store:
    config = StoreConfig.for_endpoint(
        server.endpoint_url,
        server.bucket,
        access_key=server.access_key,
        secret_key=server.secret_key,
        conn_id="test",
        attempts=1,
    )
    return S3Store(config)


def payload(size: int) -> bytes:
    return np.random.default_rng(size).integers(0, 256, size, dtype="uint8").tobytes()


@pytest.mark.parametrize("known_length", [True, False])
def test_parts_sent_side_by_side_arrive_in_order(server, monkeypatch, known_length):
    monkeypatch.setattr(store, "PART_SIZE", 5 * MIB)  # S3's smallest part: 5 parts here
    data = payload(23 * MIB + 123)
    s3store = store_for(server)
    name = f"transfers/parts-{known_length}"
    with s3store.upload_stream(name, len(data) if known_length else -1) as writer:
        for start in range(0, len(data), 3 * MIB + 7):  # pieces that straddle the parts
            writer.write(data[start : start + 3 * MIB + 7])
    assert writer.checksum.hexdigest() == hashlib.sha256(data).hexdigest()
    assert s3store.get_bytes(name) == data
    if server.name == "minio":
        # A multipart upload's ETag ends with its part count.
        assert server.client().stat_object(server.bucket, name).etag.endswith("-5")


def test_a_ranged_download_is_the_object_hashed_in_order(server, monkeypatch):
    monkeypatch.setattr(store, "RANGE_SIZE", 2 * MIB)
    data = payload(11 * MIB + 5)
    server.client().put_object(server.bucket, "transfers/ranged", io.BytesIO(data), len(data))
    # The server confirms the length in Content-Range, so no whole GET is needed.
    monkeypatch.setattr(S3Store, "_fetch_whole", lambda *args: pytest.fail("read whole"))
    got, checksum = store_for(server).download_exact("transfers/ranged", len(data))
    assert bytes(got) == data
    assert checksum.hexdigest() == hashlib.sha256(data).hexdigest()


def test_an_object_longer_than_expected_comes_back_bounded(server, monkeypatch):
    monkeypatch.setattr(store, "RANGE_SIZE", 2 * MIB)
    data = payload(6 * MIB)
    server.client().put_object(server.bucket, "transfers/longer", io.BytesIO(data), len(data))
    got, checksum = store_for(server).download_exact("transfers/longer", 5 * MIB)
    assert len(got) == 5 * MIB + 1 and bytes(got) == data[: 5 * MIB + 1]
    assert checksum.hexdigest() == hashlib.sha256(data[: 5 * MIB + 1]).hexdigest()


def test_a_missing_object_is_recognised_as_missing(server):
    s3store = store_for(server)
    with pytest.raises(Exception) as info:
        s3store.get_bytes("transfers/never-written")
    assert s3store.is_missing(info.value), repr(info.value)
