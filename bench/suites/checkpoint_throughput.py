"""Checkpoint write/read throughput of a HIGGS-sized frame vs raw S3 put/get of its bytes.

Same server (rclone serve s3 on 127.0.0.1), same bytes, same run. "raw" is the ceiling: one
``put_object``/``get_object`` of the frame's buffer with the minio client, nothing else.
"ours" is the provider's checkpoint code (Arrow IPC encode, streamed multipart upload with
SHA-256, manifest; download with SHA-256 check, memory-mapped decode into pandas), called
directly in this process so that only the checkpoint work is timed.

    python -m bench checkpoint [--rows 11000000] [--repeats 3]
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.lib.common import (
    MET,
    finish_facts,
    machine_facts,
    parse_args,
    summarize,
    timed,
    write_results,
)
from devstack.s3_server import S3Server
from ray_provider.runtime.checkpoint_io import read_checkpoint, write_checkpoint
from ray_provider.runtime.store import StoreConfig


class _BufferReader:
    """Reads a memoryview without copying it into a BytesIO first."""

    def __init__(self, view: memoryview) -> None:
        self._view, self._pos = view, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size < 0 else min(len(self._view), self._pos + size)
        chunk = self._view[self._pos : end].tobytes()
        self._pos = end
        return chunk


def make_frame(rows: int) -> pd.DataFrame:
    """HIGGS-shaped, with columns contiguous in memory as ``pandas.read_csv`` makes them."""
    columns = {"label": (np.arange(rows) % 2).astype(np.float32)}
    columns.update({f"f{i}": np.full(rows, i, dtype=np.float32) for i in range(1, 29)})
    return pd.DataFrame(columns)


SMOKE_ROWS = 100_000


def _options(parser) -> None:
    parser.add_argument("--rows", type=int, default=None, help="default 11,000,000 (smoke 100,000)")
    parser.add_argument("--name", default="checkpoint_throughput")


def headlines(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The rows this benchmark adds to the combined report: (measure, goal, result)."""
    goal = data["goal"]
    write, read = data["write_throughput_vs_raw"], data["read_throughput_vs_raw"]
    return [
        ("checkpoint write / raw S3 put", f">= {goal:.0%}", f"{write:.0%}, {MET[write >= goal]}"),
        ("checkpoint read / raw S3 get", f">= {goal:.0%}", f"{read:.0%}, {MET[read >= goal]}"),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, argv, _options)
    args.rows = args.rows or (SMOKE_ROWS if args.smoke else 11_000_000)
    started, facts = time.monotonic(), machine_facts()

    server = S3Server().start()
    try:
        frame = make_frame(args.rows)
        # The raw baseline sends the frame's own column block: the same bytes, no encoding.
        buffer = memoryview(frame._mgr.blocks[0].values).cast("B")
        size = len(buffer)
        client = server.client()
        config = StoreConfig(
            endpoint=f"127.0.0.1:{server.port}",
            secure=False,
            access_key=server.access_key,
            secret_key=server.secret_key,
            region="us-east-1",
            bucket=server.bucket,
            prefix="bench",
            conn_id="bench",
            signing_key=secrets.token_bytes(32),
        )
        print(f"frame: {args.rows:,} x 29 float32 = {size / 2**30:.2f} GiB", flush=True)

        def raw_put():
            client.put_object(
                server.bucket, "raw/frame.bin", _BufferReader(buffer), size, part_size=64 * 2**20
            )

        def raw_get():
            response = client.get_object(server.bucket, "raw/frame.bin")
            try:
                for _ in response.stream(8 * 2**20):
                    pass
            finally:
                response.close()
                response.release_conn()

        def ours_write():
            write_checkpoint(frame, config, "bench/frame/", "pandas.core.frame.DataFrame")

        def ours_read():
            value, _ = read_checkpoint(config, "bench/frame/")
            assert value.shape == frame.shape

        # Interleaved, with dirty pages flushed before each operation, so that the server's
        # disk writes from one operation do not land on the next one's clock.
        operations = (
            ("raw_put", raw_put),
            ("ours_write", ours_write),
            ("raw_get", raw_get),
            ("ours_read", ours_read),
        )
        samples: dict[str, list[float]] = {label: [] for label, _ in operations}
        for round_number in range(args.repeats):
            for label, action in operations:
                result = timed(action, 1, before=os.sync)
                samples[label].append(result["median"])
                print(f"round {round_number + 1} {label:11s} {result['median']:.2f}s", flush=True)
        results = {label: summarize(values) for label, values in samples.items()}
    finally:
        server.discard()

    write_ratio = results["raw_put"]["median"] / results["ours_write"]["median"]
    read_ratio = results["raw_get"]["median"] / results["ours_read"]["median"]
    data = {
        "machine": finish_facts(facts, started),
        "rows": args.rows,
        "bytes": size,
        "repeats": args.repeats,
        "results": results,
        "write_throughput_vs_raw": write_ratio,
        "read_throughput_vs_raw": read_ratio,
        "goal": 0.7,
    }
    lines = [
        f"# Checkpoint throughput ({args.rows:,} x 29 float32, {size / 2**30:.2f} GiB)",
        "",
        f"Machine: {data['machine']['cpus']} CPUs, {data['machine']['ram_gib']} GiB RAM, "
        f"Ray {data['machine']['ray']}, pyarrow {data['machine'].get('pyarrow')}, "
        f"minio {data['machine'].get('minio')}; server: rclone serve s3 on 127.0.0.1 "
        "(same machine, so it competes for the 2 cores). The frame's columns are contiguous, "
        "as pandas.read_csv makes them. Operations interleaved, page cache flushed before "
        f"each; median of {args.repeats} rounds (min - max). 1-minute load average "
        f"{facts['load_average'][0]} at the start, {facts['load_average_end'][0]} at the end.",
        "",
        "| operation | seconds | MiB/s |",
        "| --- | --- | --- |",
    ]
    for label, r in results.items():
        lines.append(
            f"| {label} | {r['median']:.2f} ({r['min']:.2f} - {r['max']:.2f}) | "
            f"{size / r['median'] / 2**20:.0f} |"
        )
    lines += [
        "",
        f"Checkpoint write throughput = **{write_ratio:.0%}** of raw put "
        f"(goal >= 70%: {'met' if write_ratio >= 0.7 else 'missed'}).",
        f"Checkpoint read throughput = **{read_ratio:.0%}** of raw get "
        f"(goal >= 70%: {'met' if read_ratio >= 0.7 else 'missed'}).",
        "",
    ]
    json_path, md_path = write_results(args.name, data, "\n".join(lines), args.results_dir)
    plot(results, size, md_path.with_suffix(".png"))
    print("\n".join(lines))
    print(f"wrote {json_path}, {md_path}")
    return 0


def plot(results: dict, size: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(results)
    speeds = [size / results[k]["median"] / 2**20 for k in labels]
    lows = [size / results[k]["max"] / 2**20 for k in labels]
    highs = [size / results[k]["min"] / 2**20 for k in labels]
    errors = [
        [s - lo for s, lo in zip(speeds, lows, strict=False)],
        [hi - s for s, hi in zip(speeds, highs, strict=False)],
    ]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(labels, speeds, yerr=errors, color=["#888", "#1f77b4", "#888", "#1f77b4"], capsize=4)
    ax.set_ylabel("MiB/s (median, min-max)")
    ax.set_title(f"Checkpoint vs raw S3, {size / 2**30:.2f} GiB frame")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
