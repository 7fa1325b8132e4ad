"""Write a result to the checkpoint store and read it back, verified part by part.

Layout under ``<prefix>/<dag_id>/<run_id>/<task_id>/<map_index>/``: one object per part
(``part-00000.arrows`` ...) and ``manifest.json``, written last, so a checkpoint without a
manifest is incomplete by construction. The manifest records the tree of parts with each part's
size and checksum (CRC-32; SHA-256 in older manifests), the result's type and size, and the
versions that wrote it. Parts stream straight between the encoder and S3 (no local files, no
second in-memory copy); a write that fails on the network is retried whole, with backoff.
"""

from __future__ import annotations

import contextlib
import json
import platform
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import ray

from ray_provider.runtime.checksums import recorded_checksum
from ray_provider.runtime.codecs import decode, encode
from ray_provider.runtime.errors import (
    CheckpointCorruptError,
    CheckpointError,
    CheckpointMissingError,
    CheckpointStoreError,
    CheckpointVersionError,
)
from ray_provider.runtime.store import S3Store, StoreConfig

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def location(config: StoreConfig, dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    """The object-name prefix of one task's checkpoint (ends with '/')."""
    parts = [config.prefix.strip("/"), dag_id, run_id, task_id, str(map_index)]
    return "/".join(p for p in parts if p) + "/"


def _versions() -> dict[str, str]:
    versions = {"ray": ray.__version__, "python": platform.python_version()}
    try:
        import xgboost

        versions["xgboost"] = xgboost.__version__
    except ImportError:
        pass
    return versions


def write_checkpoint(value: Any, config: StoreConfig, prefix: str, result_type: str) -> dict:
    """Stream ``value``'s parts to the store, then the manifest; returns the manifest."""
    started = time.monotonic()
    store = S3Store(config)
    store.ensure_bucket()
    delay = config.backoff_seconds
    for attempt in range(1, config.attempts + 1):
        try:
            manifest = _write_once(store, value, prefix, result_type)
            break
        except CheckpointStoreError:
            if attempt == config.attempts:
                raise
            time.sleep(delay)
            delay *= 2
    manifest["seconds"] = time.monotonic() - started
    manifest["uri"] = config.uri(prefix)
    return manifest


def _write_once(store: S3Store, value: Any, prefix: str, result_type: str) -> dict:
    parts: dict[str, dict[str, Any]] = {}

    @contextlib.contextmanager
    def open_part(name: str, length: int = -1) -> Iterator[Any]:
        with store.upload_stream(prefix + name, length) as writer:
            yield writer
        parts[name] = {"size": writer.size, writer.checksum.name: writer.checksum.hexdigest()}

    tree, _ = encode(value, open_part)
    manifest = {
        "format_version": FORMAT_VERSION,
        "type": result_type,
        "size": sum(p["size"] for p in parts.values()),
        "created_at": datetime.now(UTC).isoformat(),
        "versions": _versions(),
        "tree": tree,
        "parts": parts,
    }
    store.put_bytes(prefix + MANIFEST, json.dumps(manifest, indent=1).encode())
    stale = [
        o["name"]
        for o in store.list(prefix)
        if o["name"].rsplit("/", 1)[-1] not in parts and not o["name"].endswith(MANIFEST)
    ]
    store.delete(stale)  # parts of an earlier, larger checkpoint of the same task
    return manifest


def read_manifest(store: S3Store, prefix: str) -> dict:
    uri = store.config.uri(prefix)
    try:
        manifest = json.loads(store.get_bytes(prefix + MANIFEST))
    except Exception as exc:
        if store.is_missing(exc):
            raise CheckpointMissingError(
                f"No checkpoint at {uri} (no {MANIFEST}): it was never written completely, or "
                "it was deleted. Clear the producing task so it runs again."
            ) from exc
        if isinstance(exc, ValueError):
            raise CheckpointCorruptError(
                f"The manifest at {uri}{MANIFEST} is not JSON: {exc}"
            ) from exc
        raise
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointVersionError(
            f"The checkpoint at {uri} has format version {version!r}; this provider reads "
            f"version {FORMAT_VERSION}. Read it with the provider version that wrote it "
            f"(written with {manifest.get('versions')}), or clear the producing task."
        )
    return manifest


def read_checkpoint(config: StoreConfig, prefix: str) -> tuple[Any, dict]:
    """Stream every part from the store into the decoder, verifying each; (value, manifest)."""
    started = time.monotonic()
    store = S3Store(config)
    manifest = read_manifest(store, prefix)
    uri = config.uri(prefix)

    @contextlib.contextmanager
    def open_part(name: str) -> Iterator[Any]:
        expected = manifest["parts"].get(name)
        algorithm, _ = recorded_checksum(expected)
        try:
            with store.download_stream(prefix + name, algorithm) as reader:
                try:
                    yield reader
                except Exception as exc:
                    # A decoder choking on damaged bytes: report it as corruption if it is.
                    reader.drain()
                    _verify(uri, name, reader, expected)
                    raise CheckpointCorruptError(
                        f"Checkpoint part {uri}{name} could not be decoded: {exc}"
                    ) from exc
                reader.drain()
                _verify(uri, name, reader, expected)
        except CheckpointError:
            raise
        except Exception as exc:
            if store.is_missing(exc):
                raise CheckpointMissingError(
                    f"Checkpoint part {uri}{name} is missing; the checkpoint is incomplete. "
                    "Clear the producing task so it runs again."
                ) from exc
            raise

    value = decode(manifest["tree"], open_part)
    manifest["seconds"] = time.monotonic() - started
    manifest["uri"] = uri
    return value, manifest


def _verify(uri: str, name: str, reader: Any, expected: dict | None) -> None:
    algorithm, recorded = recorded_checksum(expected)
    digest = reader.checksum.hexdigest()
    if expected is None or reader.size != expected["size"] or digest != recorded:
        want = (
            f"{expected['size']} bytes with {algorithm} {recorded}" if expected else "no such part"
        )
        raise CheckpointCorruptError(
            f"Checkpoint part {uri}{name} is corrupt: {reader.size} bytes with {algorithm} "
            f"{digest}, the manifest says {want}. Refusing to use it; clear the "
            "producing task so it runs again."
        )


def list_checkpoints(config: StoreConfig, prefix: str) -> list[dict[str, Any]]:
    """Every checkpoint (manifest) under a prefix, with its total size."""
    store = S3Store(config)
    objects = store.list(prefix)
    found = []
    for obj in objects:
        if obj["name"].endswith("/" + MANIFEST):
            base = obj["name"][: -len(MANIFEST)]
            found.append(
                {
                    "uri": config.uri(base),
                    "prefix": base,
                    "size": sum(o["size"] for o in objects if o["name"].startswith(base)),
                    "modified": obj["modified"],
                }
            )
    return found


def delete_checkpoints(config: StoreConfig, prefix: str) -> int:
    store = S3Store(config)
    return store.delete([o["name"] for o in store.list(prefix)])
