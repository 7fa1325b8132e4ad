"""The combined report, ``README.md`` in the results folder: every goal on one page.

Built from the per-benchmark JSON files, so a partial run (``--only``) still shows the other
benchmarks' latest numbers, each with the date it was measured.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.common import machine_line, seconds

# name of the results file -> title shown in the summary
BENCHMARKS = {
    "handoff": "Handoff between tasks",
    "overhead": "Orchestration overhead",
    "training": "Training throughput",
    "training_full": "Training throughput, 1M and 4M rows",
    "checkpoint_throughput": "Checkpoint throughput",
    "gpu_training": "GPU training",
}
# Written by runs outside `python -m bench` (a larger plan, a GPU machine): shown when present.
OPTIONAL = {"training_full", "gpu_training"}
MET = {True: "met", False: "**missed**"}


def _handoff(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    g = data["goals"]
    rows = f"{g['at_rows']:,} rows"
    return [
        (
            f"ours vs (a') registry lookup + `ray.get` from a new driver, {rows}",
            "<= 1.2x",
            f"{g['lookup_floor_ratio']:.2f}x, {MET[g['lookup_floor_ratio_met']]}",
        ),
        (
            f"ours vs (a) bare `ray.get` of a ref already held, {rows}",
            "<= 1.2x",
            f"{g['floor_ratio']:.0f}x, {MET[g['floor_ratio_met']]} (a task launch vs 1 ms)",
        ),
        (
            f"(b) S3 Parquet write+read / ours, {rows}",
            ">= 10x",
            f"{g['s3_speedup']:.1f}x, {MET[g['s3_speedup_met']]}",
        ),
        (
            "XCom row of a `@task.ray` result, all sizes",
            "constant, < 1 KB",
            f"{min(g['xcom_bytes'])} - {max(g['xcom_bytes'])} B, {MET[g['xcom_constant_met']]}",
        ),
    ]


def _overhead(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    size = data["size"]
    return [
        (
            f"HIGGS DAG / plain script, {size['rows']:,} rows, {size['rounds']} rounds "
            f"({seconds(data['dag']['wall']['median'])} vs "
            f"{seconds(data['script']['wall']['median'])})",
            f"<= {data['goal']}x",
            f"{data['ratio']:.2f}x, {MET[data['goal_met']]}",
        )
    ]


def _training(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    from bench.training import LABELS

    out = []
    for check in data["goals"]:
        goal = f">= {data['goal']}x" if check["method"].startswith("xgboost_ray") else "-"
        verdict = f"{check['vs_plain']:.2f}x"
        if check["method"].startswith("xgboost_ray"):
            verdict += f", {MET[check['met']]}"
        out.append((f"{LABELS[check['method']]} / plain, {check['rows']:,} rows", goal, verdict))
    return out


def _checkpoint(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    goal = data["goal"]
    write, read = data["write_throughput_vs_raw"], data["read_throughput_vs_raw"]
    return [
        ("checkpoint write / raw S3 put", f">= {goal:.0%}", f"{write:.0%}, {MET[write >= goal]}"),
        ("checkpoint read / raw S3 get", f">= {goal:.0%}", f"{read:.0%}, {MET[read >= goal]}"),
    ]


def _gpu_training(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    from bench.gpu_training import speedup_vs_cpu

    out = []
    for entry in data["results"]:
        for name in ("cuda", "ray_task_gpu"):
            speedup = speedup_vs_cpu(entry, name)
            if speedup:
                out.append(
                    (
                        f"{'xgboost device=cuda' if name == 'cuda' else 'Ray task, num_gpus=1'}"
                        f" / {data['cores']} CPU cores, {entry['rows']:,} rows "
                        f"({data['gpu']['gpu']})",
                        "-",
                        f"{speedup:.1f}x faster",
                    )
                )
    return out


HEADLINES = {
    "handoff": _handoff,
    "overhead": _overhead,
    "training": _training,
    "training_full": _training,
    "checkpoint_throughput": _checkpoint,
    "gpu_training": _gpu_training,
}


def write_summary(results_dir: Path, run: dict[str, Any] | None = None) -> Path:
    """Write ``results_dir/README.md`` from whatever result files are there."""
    lines = ["# Benchmark results", ""]
    if run is not None:
        lines += [
            f"Latest `python -m bench{' ' + ' '.join(run['argv']) if run['argv'] else ''}`: "
            f"{run['when']}, {run['total_seconds'] / 60:.1f} minutes in all "
            f"({', '.join(f'{k} {seconds(v)}' for k, v in run['seconds'].items())}).",
            "",
        ]
        if run["failed"]:
            lines += [f"**Failed:** {', '.join(run['failed'])} (see the run's output).", ""]
    lines += [
        "| benchmark | measure | goal | result | measured |",
        "| --- | --- | --- | --- | --- |",
    ]
    machines = {}
    for name, title in BENCHMARKS.items():
        path = results_dir / f"{name}.json"
        if not path.exists():
            if name not in OPTIONAL:
                lines.append(f"| {title} | not run yet | | | |")
            continue
        data = json.loads(path.read_text())
        machines[name] = data["machine"]
        for measure, goal, result in HEADLINES[name](data):
            lines.append(
                f"| [{title}]({name}.md) | {measure} | {goal} | {result} | "
                f"{data['machine']['when']} |"
            )
    lines += ["", "Machines (one line per benchmark):", ""]
    lines += [f"* {BENCHMARKS[name]}: {machine_line(facts)}" for name, facts in machines.items()]
    lines += [""]
    lines += [f"![{name}]({name}.png)" for name in machines]
    lines.append("")
    path = results_dir / "README.md"
    path.write_text("\n".join(lines))
    return path
