"""Orchestration overhead: the HIGGS DAG through the scheduler vs the same steps as a script.

DAG: ``higgs_xgboost`` triggered through the REST API and run by the real scheduler
(LocalExecutor, each task its own process); its wall time is the run's start to end. Script:
``bench.baselines.higgs_script`` (load, split, xgboost-ray training, evaluate) in one process on the
same Ray head; its wall time is the process's start to exit. Runs alternate DAG, script,
DAG, ... so that a busy moment of the machine lands on both.

The DAG's time is split, per task, into the callable's own time on Ray (the "Ray task
finished in" log line), checkpoint writing, the rest of the task process (start, DAG parse,
Ray connect, submit, waiting for a Ray worker) and the scheduler's gaps between tasks.

    python -m bench overhead [--smoke] [--results-dir DIR] [--repeats 3]
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.lib import airflow_runs as runs
from bench.lib.common import (
    MET,
    ROOT,
    finish_facts,
    machine_facts,
    machine_line,
    parse_args,
    seconds,
    spread,
    summarize,
    write_results,
)
from bench.lib.plots import stacked_bars
from bench.lib.stack import add_platform_option, platform_for
from devstack.platform import LocalPlatform

NAME = "overhead"
DAG_ID = "higgs_xgboost"
FULL = {"rows": 1_000_000, "rounds": 100}
SMOKE = {"rows": 20_000, "rounds": 5}
ACTORS, CPUS_PER_ACTOR = 2, 1
GOAL_RATIO = 1.3
RAY_SECONDS = re.compile(r"Ray task finished in ([0-9.]+)s")
CHECKPOINT_SECONDS = re.compile(r"Checkpoint written to .*, ([0-9.]+)s\)")


def _first_float(events: list[dict[str, Any]], pattern: re.Pattern) -> float:
    for event in events:
        match = pattern.search(str(event.get("event", "")))
        if match:
            return float(match.group(1))
    return 0.0


def run_dag(platform: LocalPlatform, size: dict[str, int]) -> dict[str, Any]:
    """One run of the HIGGS DAG; its wall time and where the time went, task by task."""
    stack = platform.start_airflow()
    conf = {
        "source": "synthetic",
        **size,
        "num_actors": ACTORS,
        "cpus_per_actor": CPUS_PER_ACTOR,
        "use_gpu": False,
    }
    triggered = time.time()
    run_id, state = stack.run_and_wait(DAG_ID, conf, timeout=1800)
    observed = time.time()
    if state != "success":
        raise RuntimeError(f"{DAG_ID} run {run_id} ended {state}")
    run = runs.run_times(stack, DAG_ID, run_id)
    tasks = runs.task_times(stack, DAG_ID, run_id)
    breakdown = {"ray_callable": 0.0, "checkpoint": 0.0, "task_process": 0.0}
    per_task = {}
    for task_id, info in sorted(tasks.items(), key=lambda item: item[1]["start"]):
        events = runs.log_events(stack, DAG_ID, run_id, task_id)
        ray_s = _first_float(events, RAY_SECONDS)
        checkpoint_s = _first_float(events, CHECKPOINT_SECONDS)
        per_task[task_id] = {
            "task_s": info["duration"],
            "ray_callable_s": ray_s,
            "checkpoint_s": checkpoint_s,
            "queued_to_start_s": info["start"] - info["queued"] if info["queued"] else 0.0,
        }
        breakdown["ray_callable"] += ray_s
        breakdown["checkpoint"] += checkpoint_s
        breakdown["task_process"] += info["duration"] - ray_s - checkpoint_s
    breakdown["scheduler_gaps"] = run["duration"] - sum(t["task_s"] for t in per_task.values())
    report = stack.xcom_raw(DAG_ID, run_id, "report")
    metrics = json.loads(report) if isinstance(report, str) else report
    return {
        "run_id": run_id,
        "wall_s": run["duration"],
        "trigger_to_observed_s": observed - triggered,
        "breakdown": breakdown,
        "tasks": per_task,
        "auc": metrics.get("auc"),
        "train_seconds": metrics.get("train_seconds"),
        "trainer": metrics.get("trainer"),
    }


def run_script(platform: LocalPlatform, size: dict[str, int]) -> dict[str, Any]:
    """One run of the same steps as a plain script; timed from process start to exit."""
    command = [
        sys.executable,
        "-m",
        "bench.baselines.higgs_script",
        f"--address={platform.head.address}",
        f"--rows={size['rows']}",
        f"--rounds={size['rounds']}",
        f"--actors={ACTORS}",
        f"--cpus-per-actor={CPUS_PER_ACTOR}",
    ]
    started = time.perf_counter()
    output = subprocess.run(
        command,
        env={**os.environ, **platform.driver_env()},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    wall = time.perf_counter() - started
    if output.returncode != 0:
        raise RuntimeError(
            f"higgs_script failed:\n{output.stdout[-3000:]}\n{output.stderr[-3000:]}"
        )
    line = next(x for x in output.stdout.splitlines() if x.startswith(runs.BENCH_PREFIX))
    record = json.loads(line[len(runs.BENCH_PREFIX) :])
    steps = record["steps"]
    # Interpreter start, imports before main(), ray.shutdown and exit.
    steps["interpreter_and_exit"] = wall - sum(steps.values())
    return {
        "wall_s": wall,
        "steps": steps,
        "auc": record["metrics"]["auc"],
        "trainer": record["metrics"].get("trainer"),
    }


def _median_parts(samples: list[dict[str, float]]) -> dict[str, float]:
    return {key: summarize([s[key] for s in samples])["median"] for key in samples[0]}


def markdown(data: dict[str, Any]) -> str:
    dag, script, size = data["dag"], data["script"], data["size"]
    ratio = data["ratio"]
    lines = [
        "# Orchestration overhead: the HIGGS DAG vs the same steps as a script",
        "",
        machine_line(data["machine"]),
        f"Synthetic HIGGS, {size['rows']:,} rows, {size['rounds']} rounds, `trainer=auto` "
        f"with {ACTORS} actors x {CPUS_PER_ACTOR} CPU asked for (it trained with: DAG "
        f"{dag.get('trainer') or 'xgboost_ray'}, script {script.get('trainer') or 'xgboost_ray'}); "
        f"median (min - max) of {data['repeats']} runs each, alternating.",
        "",
        "| | wall time | test AUC |",
        "| --- | --- | --- |",
        f"| DAG through the scheduler (run start to end) | {spread(dag['wall'])} | "
        f"{dag['auc']:.4f} |",
        f"| plain script (process start to exit) | {spread(script['wall'])} | "
        f"{script['auc']:.4f} |",
        "",
        f"DAG / script = **{ratio:.2f}x** (goal <= {GOAL_RATIO}x: "
        f"**{'met' if ratio <= GOAL_RATIO else 'missed'}**).",
        "",
        "Where the DAG's time goes (medians):",
        "",
        "| part | seconds |",
        "| --- | ---: |",
    ]
    for part, value in dag["breakdown"].items():
        lines.append(f"| {part.replace('_', ' ')} | {value:.1f} |")
    lines += ["", "Per task (median):", "", "| task | task wall | callable on Ray | rest |"]
    lines.append("| --- | ---: | ---: | ---: |")
    for task_id, info in dag["tasks"].items():
        rest = info["task_s"] - info["ray_callable_s"] - info["checkpoint_s"]
        lines.append(
            f"| {task_id} | {info['task_s']:.1f} | {info['ray_callable_s']:.1f} | {rest:.1f} |"
        )
    lines += ["", "The script's steps (medians):", "", "| step | seconds |", "| --- | ---: |"]
    for step, value in script["steps"].items():
        lines.append(f"| {step.replace('_', ' ')} | {value:.1f} |")
    lines += ["", f"![overhead]({NAME}.png)", ""]
    return "\n".join(lines)


def headlines(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The rows this benchmark adds to the combined report: (measure, goal, result)."""
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, argv, add_platform_option)
    size = SMOKE if args.smoke else FULL
    started, facts = time.monotonic(), machine_facts()
    dag_runs, script_runs = [], []
    with platform_for(args.platform) as platform:
        for index in range(args.repeats):
            dag_runs.append(run_dag(platform, size))
            print(f"dag    {index + 1}: {seconds(dag_runs[-1]['wall_s'])}", flush=True)
            script_runs.append(run_script(platform, size))
            print(f"script {index + 1}: {seconds(script_runs[-1]['wall_s'])}", flush=True)
    dag_tasks = {
        task_id: _median_parts([run["tasks"][task_id] for run in dag_runs])
        for task_id in dag_runs[0]["tasks"]
    }
    dag = {
        "wall": summarize([r["wall_s"] for r in dag_runs]),
        "breakdown": _median_parts([r["breakdown"] for r in dag_runs]),
        "tasks": dag_tasks,
        "auc": summarize([r["auc"] for r in dag_runs])["median"],
        "trainer": ",".join(sorted({str(r.get("trainer")) for r in dag_runs})),
    }
    script = {
        "wall": summarize([r["wall_s"] for r in script_runs]),
        "steps": _median_parts([r["steps"] for r in script_runs]),
        "auc": summarize([r["auc"] for r in script_runs])["median"],
        "trainer": ",".join(sorted({str(r.get("trainer")) for r in script_runs})),
    }
    ratio = dag["wall"]["median"] / script["wall"]["median"]
    data = {
        "machine": finish_facts(facts, started),
        "size": size,
        "repeats": args.repeats,
        "dag": dag,
        "script": script,
        "ratio": ratio,
        "goal": GOAL_RATIO,
        "goal_met": ratio <= GOAL_RATIO,
        "raw": {"dag": dag_runs, "script": script_runs},
    }
    text = markdown(data)
    json_path, md_path = write_results(NAME, data, text, args.results_dir)
    plot(data, md_path.with_suffix(".png"))
    print(text)
    print(f"wrote {json_path}, {md_path}")
    return 0


def plot(data: dict[str, Any], path: Path) -> Path:
    """Two stacked bars: the DAG's parts and the script's steps (medians)."""
    breakdown, steps = data["dag"]["breakdown"], data["script"]["steps"]
    parts: dict[str, list[float]] = {}
    for key, value in breakdown.items():
        parts[f"DAG: {key.replace('_', ' ')}"] = [value, 0.0]
    for key, value in steps.items():
        parts[f"script: {key.replace('_', ' ')}"] = [0.0, value]
    size = data["size"]
    return stacked_bars(
        path,
        f"HIGGS {size['rows']:,} rows, {size['rounds']} rounds: DAG {data['ratio']:.2f}x "
        f"the script (goal <= {GOAL_RATIO}x)",
        ["DAG (scheduler)", "plain script"],
        parts,
        "seconds (medians)",
    )


if __name__ == "__main__":
    sys.exit(main())
