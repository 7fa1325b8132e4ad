"""Write a result to the checkpoint store and read it back, authenticated before it is decoded.

Layout: ``<prefix>/<deployment>/<dag_id>/<run_id>/<task_id>/<map_index>/<generation>/``, one
folder per try, holding one object per part (``part-00000.arrows`` ...) and ``manifest.json``,
written last. A try never writes into another try's folder, so a manifest only ever names the
parts written with it, and a checkpoint without a manifest is incomplete by construction.

The manifest records the tree of parts with each part's size and SHA-256, the result's type and
size, the versions that wrote it, and is signed with the deployment key (HMAC-SHA256). A reader
checks, in this order and before decoding anything: the manifest's signature, that it describes
the location it was read from, its digest against the one the XCom reference pins, then each
part's size and SHA-256 on the whole downloaded part. Parts stream from the encoder to S3 on
write (no local files, no second copy).

Retries: a write is retried as a whole, and nothing inside it is retried on its own. The parts
stream once from the encoder (a failed part cannot be resent from what was already consumed),
so the only way to retry is to encode again from the value, which is still in memory, into the
same try's folder; the manifest goes last, so a write that failed part-way leaves no checkpoint
a reader would accept. Reads retry each object (``S3Store``), since a download can simply start
over. Both use the connection's ``checkpoint_attempts`` / ``checkpoint_backoff_seconds``.
"""

from __future__ import annotations

import contextlib
import json
import platform
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import ray

from ray_provider.runtime import signing
from ray_provider.runtime.checksums import ALGORITHM
from ray_provider.runtime.codecs import decode, encode
from ray_provider.runtime.errors import (
    CheckpointAuthError,
    CheckpointCorruptError,
    CheckpointError,
    CheckpointMissingError,
    CheckpointVersionError,
)
from ray_provider.runtime.store import S3Store, StoreConfig, retrying

MANIFEST = "manifest.json"
FORMAT_VERSION = 2
PURPOSE = "manifest"


def location(
    config: StoreConfig,
    deployment: str,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int,
    generation: str,
) -> str:
    """The object-name prefix of one try's checkpoint (ends with '/')."""
    return run_scope(config, deployment, dag_id, run_id) + f"{task_id}/{map_index}/{generation}/"


def run_scope(
    config: StoreConfig, deployment: str, dag_id: str | None = None, run_id: str | None = None
) -> str:
    """The prefix every checkpoint of a deployment (of a DAG, of a run) lies under."""
    parts = [config.prefix.strip("/"), deployment, dag_id or "", run_id or ""]
    return "/".join(p for p in parts if p) + "/"


def _versions() -> dict[str, str]:
    """Ray's and Python's versions, and XGBoost's when it is loaded (a Booster needs it).

    XGBoost is never imported for this: the first import took 8 s of a worker's time here, on
    the clock of a checkpoint that may hold no model at all.
    """
    versions = {"ray": ray.__version__, "python": platform.python_version()}
    xgboost = sys.modules.get("xgboost")
    if xgboost is not None and getattr(xgboost, "__version__", None):
        versions["xgboost"] = xgboost.__version__
    return versions


def _signing_key(config: StoreConfig) -> bytes:
    if not config.signing_key:
        raise CheckpointAuthError(
            "Checkpoints need the deployment key (AIRFLOW__RAY_PROVIDER__DEPLOYMENT_KEY) to "
            "sign and authenticate manifests; none was given."
        )
    return config.signing_key


def write_checkpoint(
    value: Any, config: StoreConfig, prefix: str, result_type: str, *, client: Any = None
) -> dict:
    """Stream ``value``'s parts to the store, then the signed manifest; returns the manifest.

    The whole write is one retried operation (see the module doc): each store call inside it is
    tried once. The returned manifest carries ``digest`` (what a reference pins), ``uri`` and
    ``seconds``. ``client`` replaces the S3 client (tests).
    """
    started = time.monotonic()
    key = _signing_key(config)
    store = S3Store(config, attempts=1, client=client)

    def write() -> dict:
        store.ensure_bucket()
        return _write_once(store, value, prefix, result_type, key)

    body = retrying(
        f"writing the checkpoint {config.uri(prefix)}",
        write,
        config.attempts,
        config.backoff_seconds,
    )
    return {
        **body,
        "digest": signing.digest(body),
        "uri": config.uri(prefix),
        "seconds": time.monotonic() - started,
    }


def _write_once(store: S3Store, value: Any, prefix: str, result_type: str, key: bytes) -> dict:
    parts: dict[str, dict[str, Any]] = {}

    @contextlib.contextmanager
    def open_part(name: str, length: int = -1) -> Iterator[Any]:
        with store.upload_stream(prefix + name, length) as writer:
            yield writer
        parts[name] = {"size": writer.size, ALGORITHM: writer.checksum.hexdigest()}

    tree, _ = encode(value, open_part)
    body = {
        "format_version": FORMAT_VERSION,
        "location": prefix,
        "type": result_type,
        "size": sum(p["size"] for p in parts.values()),
        "created_at": datetime.now(UTC).isoformat(),
        "versions": _versions(),
        "tree": tree,
        "parts": parts,
    }
    body = json.loads(json.dumps(body))  # exactly what a reader will parse, and sign that
    manifest = {
        "body": body,
        "signature": {"alg": signing.ALGORITHM, "value": signing.sign(key, PURPOSE, body)},
    }
    store.put_bytes(prefix + MANIFEST, json.dumps(manifest, indent=1).encode())
    return body


def read_manifest(store: S3Store, prefix: str, expected_digest: str | None = None) -> dict:
    """The authenticated manifest body of the checkpoint at ``prefix``.

    Refused (``CheckpointAuthError``) when it is not signed with this deployment's key, when it
    describes another location (a signed manifest copied elsewhere), or when its digest is not
    the one the reference pinned (a later try's checkpoint in place of the one referenced).
    """
    uri = store.config.uri(prefix + MANIFEST)
    key = _signing_key(store.config)
    try:
        raw = store.get_bytes(prefix + MANIFEST)
    except Exception as exc:
        if store.is_missing(exc):
            raise CheckpointMissingError(
                f"No checkpoint at {store.config.uri(prefix)} (no {MANIFEST}): it was never "
                "written completely, or it was deleted. Clear the producing task so it runs "
                "again."
            ) from exc
        raise
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        raise CheckpointCorruptError(f"The checkpoint manifest {uri} is not JSON: {exc}") from exc
    old_version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if old_version is not None and old_version != FORMAT_VERSION:
        raise CheckpointVersionError(
            f"The checkpoint manifest {uri} has format version {old_version!r}; this provider "
            f"reads version {FORMAT_VERSION} (signed manifests). Clear the producing task so it "
            "runs again."
        )
    try:
        body, signature = manifest["body"], manifest["signature"]["value"]
        if not isinstance(body, dict):
            raise TypeError("the body is not an object")
    except (KeyError, TypeError) as exc:
        raise CheckpointCorruptError(
            f"The checkpoint manifest {uri} is not a signed manifest ({type(exc).__name__}: "
            f"{exc}). Refusing to use it; clear the producing task so it runs again."
        ) from exc
    if not signing.verify(key, PURPOSE, body, signature):
        raise CheckpointAuthError(
            f"The checkpoint manifest {uri} is not signed with this deployment's key: it was "
            "written by someone else, or altered. Nothing of it was decoded. Clear the "
            "producing task so it runs again; if this was not expected, check who can write "
            "the bucket."
        )
    if body.get("location") != prefix:
        raise CheckpointAuthError(
            f"The checkpoint manifest {uri} was signed for {body.get('location')!r}, not for "
            "this location: it was copied here. Refusing to use it."
        )
    if expected_digest is not None and signing.digest(body) != expected_digest:
        raise CheckpointAuthError(
            f"The checkpoint at {uri} is not the one the XCom reference was made from (it was "
            "overwritten since). Refusing to use it; clear the producing task so it runs again."
        )
    return body


def read_checkpoint(
    config: StoreConfig, prefix: str, expected_digest: str | None = None, *, client: Any = None
) -> tuple[Any, dict]:
    """Read and verify the manifest, then each whole part, then decode; (value, manifest).

    Each download is retried on its own (``S3Store``); ``client`` replaces the S3 client (tests).
    """
    started = time.monotonic()
    store = S3Store(config, client=client)
    manifest = read_manifest(store, prefix, expected_digest)
    uri = config.uri(prefix)

    def read_part(name: str) -> memoryview:
        expected = manifest["parts"].get(name)
        if expected is None:
            raise CheckpointCorruptError(f"The manifest of {uri} names no part {name!r}.")
        try:
            data, checksum = store.download_exact(prefix + name, int(expected["size"]))
        except CheckpointError:
            raise
        except Exception as exc:
            if store.is_missing(exc):
                raise CheckpointMissingError(
                    f"Checkpoint part {uri}{name} is missing; the checkpoint is incomplete. "
                    "Clear the producing task so it runs again."
                ) from exc
            raise
        digest = checksum.hexdigest()
        if len(data) != expected["size"] or digest != expected.get(ALGORITHM):
            size = f"{len(data)}+" if len(data) > expected["size"] else str(len(data))
            raise CheckpointCorruptError(
                f"Checkpoint part {uri}{name} is corrupt or was replaced: {size} bytes with "
                f"{ALGORITHM} {digest}, the signed manifest says {expected['size']} bytes with "
                f"{expected.get(ALGORITHM)}. Nothing of it was decoded; clear the producing task "
                "so it runs again."
            )
        return data

    try:
        value = decode(manifest["tree"], read_part)
    except CheckpointError:
        raise
    except Exception as exc:  # authentic bytes that do not decode: a bug or a version skew
        raise CheckpointCorruptError(f"Checkpoint {uri} could not be decoded: {exc}") from exc
    return value, {**manifest, "uri": uri, "seconds": time.monotonic() - started}


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
