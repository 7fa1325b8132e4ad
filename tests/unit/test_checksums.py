"""Part checksums: SHA-256 over the bytes as they stream, whatever the chunking."""

from __future__ import annotations

import hashlib

from ray_provider.runtime import checksums


def test_the_algorithm_is_sha256_and_matches_hashlib():
    checksum = checksums.new_checksum()
    checksum.update(b"checkpoint part")
    assert checksums.ALGORITHM == checksum.name == "sha256"
    assert checksum.hexdigest() == hashlib.sha256(b"checkpoint part").hexdigest()


def test_streaming_in_chunks_gives_the_digest_of_the_whole():
    data = bytes(range(256)) * 1000
    streamed = checksums.new_checksum()
    for start in range(0, len(data), 4099):
        streamed.update(memoryview(data)[start : start + 4099])
    assert streamed.hexdigest() == hashlib.sha256(data).hexdigest()


def test_one_changed_byte_changes_the_digest():
    original, changed = checksums.new_checksum(), checksums.new_checksum()
    original.update(b"\x00" * 1024)
    changed.update(b"\x00" * 1023 + b"\x01")
    assert original.hexdigest() != changed.hexdigest()


def test_each_checksum_is_independent():
    first, second = checksums.new_checksum(), checksums.new_checksum()
    first.update(b"a")
    assert second.hexdigest() == hashlib.sha256(b"").hexdigest()
