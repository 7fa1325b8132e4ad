"""Baseline (b) of the handoff: the frame through S3 as Parquet, as pipelines often do it.

Write: Arrow table, Parquet (pyarrow's defaults: snappy), one ``put_object``. Read: one
``get_object``, Parquet to Arrow to pandas. The ``minio`` client against the platform's local
MinIO (the committed handoff results predate it: they ran against ``rclone serve s3``, on which
pyarrow's own S3 filesystem fails at multipart upload, hence the ``minio`` client).
"""

from __future__ import annotations

import io
import os
import time

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

PART_SIZE = 64 * 2**20


def write_parquet(client, bucket: str, key: str, frame: pd.DataFrame) -> float:
    """Seconds to encode ``frame`` as Parquet and upload it."""
    started = time.perf_counter()
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    buffer = sink.getvalue()
    client.put_object(bucket, key, pa.BufferReader(buffer), buffer.size, part_size=PART_SIZE)
    return time.perf_counter() - started


def read_parquet(client, bucket: str, key: str, expected_rows: int) -> float:
    """Seconds to download the Parquet object and decode it into a pandas frame."""
    started = time.perf_counter()
    response = client.get_object(bucket, key)
    try:
        data = response.read()
    finally:
        response.close()
        response.release_conn()
    frame = pq.read_table(io.BytesIO(data)).to_pandas()
    seconds = time.perf_counter() - started
    if len(frame) != expected_rows:
        raise AssertionError(f"read {len(frame)} rows back, wrote {expected_rows}")
    return seconds


def roundtrips(client, bucket: str, frame: pd.DataFrame, repeats: int) -> dict[str, list[float]]:
    """``repeats`` write+read pairs, dirty pages flushed before each (as the checkpoint bench)."""
    samples: dict[str, list[float]] = {"write": [], "read": [], "total": []}
    key = f"handoff/{len(frame)}.parquet"
    for _ in range(repeats):
        os.sync()
        write = write_parquet(client, bucket, key, frame)
        os.sync()
        read = read_parquet(client, bucket, key, len(frame))
        samples["write"].append(write)
        samples["read"].append(read)
        samples["total"].append(write + read)
    client.remove_object(bucket, key)
    return samples
