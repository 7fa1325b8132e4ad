"""Load HIGGS from where it is: ``synthetic``, a local path, an http(s) URL, or ``s3://``.

Every CSV goes through one reader that checks the layout and names the file and line of the
first bad row. Downloads show progress, resume after an interruption, are cached, and are
checked against the size the server announced (and a SHA-256 when one is given).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import logging
import os
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from higgs.schema import COLUMNS
from higgs.synthetic import synthetic_higgs

log = logging.getLogger(__name__)
DEFAULT_CACHE = Path(os.environ.get("HIGGS_CACHE_DIR", Path.home() / ".cache" / "higgs"))
PROGRESS_EVERY_SECONDS = 5.0


class HiggsDataError(ValueError):
    """The data cannot be HIGGS: wrong column count, a malformed row, an empty file."""


def load(
    source: str,
    rows: int | None = None,
    *,
    seed: int = 0,
    cache_dir: Path | None = None,
    sha256: str | None = None,
    s3_conn: dict | None = None,
) -> pd.DataFrame:
    """The first ``rows`` rows (all when ``None``) of HIGGS from ``source``."""
    if source == "synthetic":
        if not rows:
            raise HiggsDataError("source='synthetic' needs rows (e.g. rows=1000000)")
        return synthetic_higgs(rows, seed)
    parsed = urlparse(source)
    if parsed.scheme in ("http", "https"):
        path = download(source, cache_dir or DEFAULT_CACHE, sha256=sha256)
    elif parsed.scheme == "s3":
        path = download_s3(source, cache_dir or DEFAULT_CACHE, s3_conn or {})
    elif parsed.scheme in ("", "file"):
        path = Path(parsed.path if parsed.scheme == "file" else source)
        if not path.exists():
            raise HiggsDataError(f"source={source!r}: no such file")
    else:
        raise HiggsDataError(
            f"source={source!r}: use 'synthetic', a local path, an http(s):// URL or s3://"
        )
    return read_csv(path, rows)


def read_csv(path: Path, rows: int | None = None) -> pd.DataFrame:
    """Read a (gzipped) HIGGS CSV; a bad file fails naming the file and the first bad line."""
    if path.stat().st_size == 0:
        raise HiggsDataError(f"{path}: the file is empty")
    try:
        frame = pd.read_csv(
            path,
            header=None,
            names=COLUMNS,
            nrows=rows,
            dtype="float32",
            compression="infer",
            engine="c",
        )
    except pd.errors.EmptyDataError as exc:
        raise HiggsDataError(f"{path}: the file is empty") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise _first_bad_line(path, rows, exc) from exc
    if frame.empty:
        raise HiggsDataError(f"{path}: the file has no rows")
    if frame.isna().to_numpy().any():
        raise _first_bad_line(path, rows, None)
    return frame


def _open_text(path: Path):
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt") if gzipped else open(path)


def _first_bad_line(path: Path, rows: int | None, cause: Exception | None) -> HiggsDataError:
    """Scan the file (only on the error path) for the first row that is not 29 numbers."""
    with _open_text(path) as handle:
        for number, fields in enumerate(csv.reader(handle), start=1):
            if rows is not None and number > rows:
                break
            if len(fields) != len(COLUMNS):
                return HiggsDataError(
                    f"{path}, line {number}: {len(fields)} columns, expected {len(COLUMNS)} "
                    "(the label, then 28 features)"
                )
            for column, value in zip(COLUMNS, fields, strict=True):
                try:
                    float(value)
                except ValueError:
                    return HiggsDataError(
                        f"{path}, line {number}, column {column!r}: {value!r} is not a number"
                    )
    return HiggsDataError(f"{path}: not a HIGGS CSV ({cause})")


def download(url: str, cache_dir: Path, *, sha256: str | None = None) -> Path:
    """Download ``url`` into the cache (resuming a partial file); returns the cached path."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / (Path(urlparse(url).path).name or "HIGGS.csv.gz")
    partial = target.with_suffix(target.suffix + ".part")
    if target.exists():
        log.info("Using cached %s", target)
        _check_sha256(target, sha256)
        return target
    offset = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    with urllib.request.urlopen(request, timeout=60) as response:
        resumed = response.status == 206
        if offset and not resumed:
            offset = 0  # the server ignored the range: start over
        remaining = int(response.headers.get("Content-Length") or -1)
        total = offset + remaining if remaining >= 0 else None
        log.info(
            "Downloading %s (%s)%s", url, _size(total), f", resuming at {offset}" if offset else ""
        )
        mode = "ab" if resumed else "wb"
        done, last = offset, time.monotonic()
        with open(partial, mode) as out:
            while chunk := response.read(1024 * 1024):
                out.write(chunk)
                done += len(chunk)
                if time.monotonic() - last >= PROGRESS_EVERY_SECONDS:
                    last = time.monotonic()
                    log.info(
                        "  %s of %s%s",
                        _size(done),
                        _size(total),
                        f" ({done / total:.0%})" if total else "",
                    )
    if total is not None and partial.stat().st_size != total:
        raise HiggsDataError(
            f"{url}: downloaded {partial.stat().st_size} bytes, the server announced {total}; "
            "run again to resume"
        )
    _check_sha256(partial, sha256)
    partial.rename(target)
    log.info("Downloaded %s (%s)", target, _size(target.stat().st_size))
    return target


def download_s3(uri: str, cache_dir: Path, conn: dict) -> Path:
    """Fetch ``s3://bucket/key`` into the cache with the provider's S3 client.

    ``conn`` holds ``endpoint_url`` (AWS S3 when empty), ``access_key``, ``secret_key``,
    ``session_token`` and ``region`` (no keys: the AWS chain on the worker), rendered from an
    Airflow ``aws`` connection (see the DAG's ``s3_fields``). This runs on a Ray worker, which
    has the provider but not Airflow, so it uses the provider's Airflow-free client
    (``ray_provider.runtime.store``), the same one checkpoints use. The
    object is downloaded to a temporary name and renamed when complete, so an interrupted
    download is never mistaken for the data.
    """
    from ray_provider.runtime.errors import (
        CheckpointStoreError,
        StoreAccessDeniedError,
        StoreCredentialsError,
    )
    from ray_provider.runtime.store import S3Store, StoreConfig
    from ray_provider.runtime.sts import sts_endpoint_for

    parsed = urlparse(uri)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    if not bucket or not key:
        raise HiggsDataError(f"source={uri!r}: expected s3://BUCKET/KEY")
    try:
        config = StoreConfig.for_endpoint(
            conn.get("endpoint_url"),
            bucket,
            access_key=conn.get("access_key"),
            secret_key=conn.get("secret_key"),
            session_token=conn.get("session_token"),
            region=conn.get("region"),
            # No keys: the worker's own credentials (environment, its pod's identity).
            credential_chain=not conn.get("access_key"),
            sts_endpoint=sts_endpoint_for(
                conn.get("region") or "us-east-1", conn.get("endpoint_url")
            ),
            # One try: the task's own retry starts the download again.
            attempts=1,
        )
    except ValueError as exc:
        raise HiggsDataError(f"source={uri!r}: {exc} Check the source connection.") from exc
    store = S3Store(config)
    host = config.endpoint
    target = cache_dir / "s3" / bucket / key
    if target.exists():
        log.info("Using cached %s", target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        size = store.size(key)
        log.info("Downloading %s (%s) from %s", uri, _size(size), host)
        store.download_file(key, str(target))
    except (StoreAccessDeniedError, StoreCredentialsError) as exc:
        raise HiggsDataError(
            f"source={uri!r}: {exc} (the source connection: HIGGS_SOURCE_CONN_ID)"
        ) from exc
    except CheckpointStoreError as exc:
        raise HiggsDataError(
            f"source={uri!r}: cannot reach {config.endpoint_url} ({exc}); "
            "check endpoint_url in the source connection's extra"
        ) from exc
    except Exception as exc:
        if not (store.is_answer(exc) or store.is_missing(exc)):
            raise
        code, message = getattr(exc, "code", None) or "NoSuchKey", getattr(exc, "message", exc)
        raise HiggsDataError(
            f"source={uri!r} on {host}: {code} ({message}); check the key and the credentials "
            "of the source connection (HIGGS_SOURCE_CONN_ID)"
        ) from exc
    got = target.stat().st_size
    if got != size:
        target.unlink()
        raise HiggsDataError(f"{uri}: downloaded {got} bytes, expected {size}; run again")
    log.info("Downloaded %s (%s)", target, _size(size))
    return target


def _check_sha256(path: Path, expected: str | None) -> None:
    if not expected:
        return
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(8 * 1024 * 1024), b""):
            digest.update(block)
    if digest.hexdigest() != expected.lower():
        raise HiggsDataError(
            f"{path}: SHA-256 {digest.hexdigest()} does not match the expected {expected}; "
            "delete the file and download again"
        )


def _size(size: int | None) -> str:
    if size is None:
        return "unknown size"
    return f"{size / 2**20:.1f} MiB"


__all__ = ["HiggsDataError", "download", "load", "read_csv"]
