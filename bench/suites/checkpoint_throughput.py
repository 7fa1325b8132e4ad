"""Checkpoint write/read throughput of a HIGGS-sized frame vs raw S3 put/get of its bytes.

Per server (MinIO, the one the goals are judged on, and SeaweedFS, the chart's other store),
both on 127.0.0.1: same server, same bytes, same run. "raw" is the ceiling: one
``put_object``/``get_object`` of the frame's buffer with the minio client, nothing else.
"ours" is the provider's checkpoint code (Arrow IPC encode, streamed multipart upload with
SHA-256, manifest; download with SHA-256 check, memory-mapped decode into pandas), called
directly in this process so that only the checkpoint work is timed.

    python -m bench checkpoint [--rows 11000000] [--repeats 3] [--server minio|seaweedfs|all]

``--server all`` (the default) runs MinIO, then SeaweedFS when its binary is built
(``bash docker/local/go-binaries.sh seaweedfs``; skipped with a note otherwise).

On MinIO the checkpoint is also written and read with a pod's identity instead of keys
(``identity_write``, ``identity_read``): no keys in the config, the AWS chain trades a web
identity token (from ``devstack.oidc_issuer``, which MinIO's STS trusts) for temporary keys that
every request asks the credentials provider for. Its ratio to ``ours_write``/``ours_read`` in
the same round says what the credential chain costs (issue #17: it must not lower throughput).
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
from devstack.oidc_issuer import OidcIssuer
from devstack.s3_server import S3Server, server_class
from ray_provider.runtime.checkpoint_io import read_checkpoint, write_checkpoint
from ray_provider.runtime.store import StoreConfig

# The goals (issue #15): against MinIO, the median write >= 80% of a raw put, the read >= 100%
# of a raw get.
WRITE_GOAL = 0.8
READ_GOAL = 1.0
SERVERS = ("minio", "seaweedfs")
JUDGED = "minio"
# Credentials from the pod's identity must not slow checkpoints (issue #17): within the noise
# of one round to the next on this machine.
IDENTITY_GOAL = 0.95
TITLES = {"minio": "MinIO", "seaweedfs": "SeaweedFS"}


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
OPERATIONS = ("raw_put", "ours_write", "raw_get", "ours_read")
IDENTITY_OPERATIONS = ("identity_write", "identity_read")
# The client id MinIO trusts tokens for: what EKS puts in an IRSA token's audience.
AUDIENCE = "sts.amazonaws.com"


def _options(parser) -> None:
    parser.add_argument("--rows", type=int, default=None, help="default 11,000,000 (smoke 100,000)")
    parser.add_argument("--name", default="checkpoint_throughput")
    parser.add_argument(
        "--server",
        choices=(*SERVERS, "all"),
        default="all",
        help="the S3 server(s) to measure against (default all: MinIO, then SeaweedFS if built)",
    )


def _ratio_line(label: str, stats: dict[str, Any], goal: float | None) -> str:
    verdict = f"goal >= {goal:.0%}: {MET[stats['median'] >= goal]}" if goal is not None else ""
    return (
        f"{label} = **{stats['median']:.0%}** (rounds {stats['min']:.0%} - {stats['max']:.0%})"
        + (f" ({verdict})" if verdict else "")
        + "."
    )


def headlines(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The rows this benchmark adds to the combined report: (measure, goal, result)."""
    rows = []
    for server, entry in data.get("servers", {}).items():
        name = TITLES.get(server, server)
        if entry.get("skipped"):
            rows.append((f"checkpoint on {name}", "", f"not run: {entry['skipped']}"))
            continue
        judged = server == data.get("judged", JUDGED)
        for measure, key, goal in (
            ("write / raw S3 put", "write_vs_raw", data["write_goal"]),
            ("read / raw S3 get", "read_vs_raw", data["read_goal"]),
        ):
            stats = entry[key]
            result = f"{stats['median']:.0%} ({stats['min']:.0%} - {stats['max']:.0%})"
            if judged:
                rows.append(
                    (
                        f"checkpoint {measure} ({name})",
                        f">= {goal:.0%}",
                        f"{result}, {MET[stats['median'] >= goal]}",
                    )
                )
            else:
                rows.append((f"checkpoint {measure} ({name})", "(not judged)", result))
        for what, key in (("write", "identity_write_vs_keys"), ("read", "identity_read_vs_keys")):
            if key in entry:
                stats = entry[key]
                rows.append(
                    (
                        f"checkpoint {what} with pod identity / with keys ({name})",
                        f">= {IDENTITY_GOAL:.0%}",
                        f"{stats['median']:.0%} ({stats['min']:.0%} - {stats['max']:.0%}), "
                        f"{MET[stats['median'] >= IDENTITY_GOAL]}",
                    )
                )
    return rows


def _pod_identity(issuer: OidcIssuer, workdir: Path) -> None:
    """This process's environment as EKS IRSA sets a pod's: a token file and a role."""
    workdir.mkdir(parents=True, exist_ok=True)
    token_file = workdir / "web-identity-token"
    token_file.write_text(
        issuer.token("system:serviceaccount:bench:ray", audience=AUDIENCE, policy="readwrite")
    )
    os.environ.update(
        {
            "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
            "AWS_ROLE_ARN": "arn:aws:iam::000000000000:role/bench",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )


def _measure(
    server: S3Server, frame: pd.DataFrame, repeats: int, identity: bool = False
) -> dict[str, Any]:
    """Interleaved rounds of the operations on ``server``; seconds and ratios.

    ``identity``: also the checkpoint with the credential chain's keys (``_pod_identity``).
    """
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

    keyless = StoreConfig(
        **{
            **config.__dict__,
            "access_key": None,
            "secret_key": None,
            "credential_chain": True,
            "sts_endpoint": server.endpoint_url,
        }
    )

    def identity_write():
        write_checkpoint(frame, keyless, "bench/identity/", "pandas.core.frame.DataFrame")

    def identity_read():
        value, _ = read_checkpoint(keyless, "bench/identity/")
        assert value.shape == frame.shape

    actions = {
        "raw_put": raw_put,
        "ours_write": ours_write,
        "raw_get": raw_get,
        "ours_read": ours_read,
        "identity_write": identity_write,
        "identity_read": identity_read,
    }
    operations = OPERATIONS + (IDENTITY_OPERATIONS if identity else ())
    # Every other round the identity pair goes first, so neither way always follows the other.
    swapped = ("raw_put", "identity_write", "raw_get", "identity_read", "ours_write", "ours_read")
    # Interleaved, with dirty pages flushed before each operation, so that the server's
    # disk writes from one operation do not land on the next one's clock.
    samples: dict[str, list[float]] = {label: [] for label in operations}
    for round_number in range(repeats):
        for label in swapped if identity and round_number % 2 else operations:
            result = timed(actions[label], 1, before=os.sync)
            samples[label].append(result["median"])
            print(
                f"{server.name} round {round_number + 1} {label:11s} {result['median']:.2f}s",
                flush=True,
            )
    results = {label: summarize(values) for label, values in samples.items()}
    # Each round's ratio compares operations made one after the other, under the same load.
    write = [p / w for p, w in zip(samples["raw_put"], samples["ours_write"], strict=True)]
    read = [g / r for g, r in zip(samples["raw_get"], samples["ours_read"], strict=True)]
    identity_ratios = {}
    if identity:
        pairs = (("identity_write", "ours_write"), ("identity_read", "ours_read"))
        for chain, keys in pairs:
            ratios = [k / c for k, c in zip(samples[keys], samples[chain], strict=True)]
            identity_ratios[f"{chain}_vs_keys"] = summarize(ratios)
    return {
        "results": results,
        "write_vs_raw": summarize(write),
        "read_vs_raw": summarize(read),
        **identity_ratios,
        "ratio_of_medians": {
            "write": results["raw_put"]["median"] / results["ours_write"]["median"],
            "read": results["raw_get"]["median"] / results["ours_read"]["median"],
        },
    }


def _run_on(kind: str, frame: pd.DataFrame, repeats: int, required: bool) -> dict[str, Any]:
    server = server_class(kind)()
    try:
        server.command()  # finds the binary (or says how to build it) before anything starts
    except FileNotFoundError as exc:
        server.discard()
        if required:
            raise
        print(f"==> {TITLES[kind]} skipped: {exc}", flush=True)
        return {"skipped": str(exc)}
    identity = kind == JUDGED
    issuer = OidcIssuer().start() if identity else None
    if issuer is not None:
        server.extra_env.update(issuer.minio_env(AUDIENCE))
        _pod_identity(issuer, server.home)
    print(f"==> {TITLES[kind]} on 127.0.0.1:{server.port}", flush=True)
    try:
        server.start()
        return {"server": server.describe(), **_measure(server, frame, repeats, identity)}
    finally:
        server.discard()
        if issuer is not None:
            issuer.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, argv, _options)
    args.rows = args.rows or (SMOKE_ROWS if args.smoke else 11_000_000)
    started, facts = time.monotonic(), machine_facts()

    frame = make_frame(args.rows)
    size = int(frame.memory_usage(index=False).sum())
    print(f"frame: {args.rows:,} x 29 float32 = {size / 2**30:.2f} GiB", flush=True)
    kinds = SERVERS if args.server == "all" else (args.server,)
    # MinIO is always required (the goals are judged on it); SeaweedFS only when asked for.
    servers = {
        kind: _run_on(kind, frame, args.repeats, required=kind == JUDGED or len(kinds) == 1)
        for kind in kinds
    }

    judged = servers.get(JUDGED) or next(e for e in servers.values() if not e.get("skipped"))
    data = {
        "machine": finish_facts(facts, started),
        "rows": args.rows,
        "bytes": int(size),
        "repeats": args.repeats,
        "judged": JUDGED if JUDGED in servers else next(iter(servers)),
        "servers": servers,
        # The judged server's numbers, as the combined report and older readers expect them.
        "results": judged["results"],
        "write_throughput_vs_raw": judged["write_vs_raw"]["median"],
        "read_throughput_vs_raw": judged["read_vs_raw"]["median"],
        "write_goal": WRITE_GOAL,
        "read_goal": READ_GOAL,
    }
    lines = [
        f"# Checkpoint throughput ({args.rows:,} x 29 float32, {size / 2**30:.2f} GiB)",
        "",
        f"Machine: {data['machine']['cpus']} CPUs, {data['machine']['ram_gib']} GiB RAM, "
        f"Ray {data['machine']['ray']}, pyarrow {data['machine'].get('pyarrow')}, "
        f"minio (client) {data['machine'].get('minio')}. Each server runs on 127.0.0.1 (same "
        "machine, so it competes with the client for the cores). The frame's columns are "
        "contiguous, as pandas.read_csv makes them. Operations interleaved, page cache "
        f"flushed before each; median of {args.repeats} rounds (min - max); a ratio is raw "
        "time / our time, per round. 1-minute load average "
        f"{facts['load_average'][0]} at the start, {facts['load_average_end'][0]} at the end.",
        "",
    ]
    for kind, entry in servers.items():
        title = TITLES[kind] + (" (judged)" if kind == data["judged"] else "")
        lines += [f"## {title}", ""]
        if entry.get("skipped"):
            lines += [f"Not run: {entry['skipped']}", ""]
            continue
        lines += [
            f"Server: {entry['server']}.",
            "",
            "| operation | seconds | MiB/s |",
            "| --- | --- | --- |",
        ]
        for label, r in entry["results"].items():
            lines.append(
                f"| {label} | {r['median']:.2f} ({r['min']:.2f} - {r['max']:.2f}) | "
                f"{size / r['median'] / 2**20:.0f} |"
            )
        goals = kind == data["judged"]
        lines += [
            "",
            _ratio_line(
                "Checkpoint write throughput / raw put",
                entry["write_vs_raw"],
                WRITE_GOAL if goals else None,
            ),
            _ratio_line(
                "Checkpoint read throughput / raw get",
                entry["read_vs_raw"],
                READ_GOAL if goals else None,
            ),
            "",
        ]
        if "identity_write_vs_keys" in entry:
            lines += [
                _ratio_line(
                    "Checkpoint write with the pod's identity (web identity, temporary keys) "
                    "/ with static keys",
                    entry["identity_write_vs_keys"],
                    None,
                ),
                _ratio_line(
                    "Checkpoint read with the pod's identity / with static keys",
                    entry["identity_read_vs_keys"],
                    None,
                ),
                "",
            ]
    json_path, md_path = write_results(args.name, data, "\n".join(lines), args.results_dir)
    plot(servers, size, md_path.with_suffix(".png"))
    print("\n".join(lines))
    print(f"wrote {json_path}, {md_path}")
    return 0


def plot(servers: dict[str, dict[str, Any]], size: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = {kind: entry for kind, entry in servers.items() if not entry.get("skipped")}
    fig, axes = plt.subplots(1, len(shown), figsize=(6 * len(shown), 4), squeeze=False)
    for ax, (kind, entry) in zip(axes[0], shown.items(), strict=True):
        results = entry["results"]
        labels = list(results)
        speeds = [size / results[k]["median"] / 2**20 for k in labels]
        lows = [size / results[k]["max"] / 2**20 for k in labels]
        highs = [size / results[k]["min"] / 2**20 for k in labels]
        errors = [
            [s - lo for s, lo in zip(speeds, lows, strict=True)],
            [hi - s for s, hi in zip(speeds, highs, strict=True)],
        ]
        colors = ["#888" if k.startswith("raw") else "#1f77b4" for k in labels]
        ax.bar(labels, speeds, yerr=errors, color=colors, capsize=4)
        ax.set_ylabel("MiB/s (median, min-max)")
        write, read = entry["write_vs_raw"]["median"], entry["read_vs_raw"]["median"]
        ax.set_title(f"{TITLES[kind]}: write {write:.0%}, read {read:.0%} of raw")
    fig.suptitle(f"Checkpoint vs raw S3, {size / 2**30:.2f} GiB frame, servers on 127.0.0.1")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
