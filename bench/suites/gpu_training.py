"""GPU training: xgboost ``device="cuda"`` vs ``hist`` on all CPU cores, and the GPU paths on Ray.

Runs only where an NVIDIA GPU is visible (never part of ``make bench`` or ``make test``, which
run on CPU machines). The same synthetic HIGGS rows, split as the pipeline splits them, and the
same parameters (``higgs.model.xgboost_params``) as ``bench.suites.training``; methods
alternate within each repeat:

* ``cpu``: plain ``xgboost.train``, ``hist`` with ``nthread`` = every core of the machine;
* ``cuda``: the same call with ``device="cuda"``;
* ``ray_task_gpu``: what ``@task.ray(num_gpus=1)`` does without Airflow around it: the provider's
  result registry runs the training callable as a Ray task with ``num_gpus=1`` on the frames
  an upstream task left in the object store, and keeps the booster there;
* ``xgboost_gpu``: the pipeline's ``trainer="xgboost"`` with ``use_gpu=True``: one Ray task
  with one GPU, called as the DAG's ``train_model`` calls it (the frames go in as arguments);
* ``xgboost_ray_gpu`` / ``ray_train_gpu``: the pipeline's distributed trainers with
  ``use_gpu=True``, one actor (worker) with one GPU.

    python -m bench gpu [--smoke] [--results-dir DIR] [--repeats 3] [--budget-s 900]

``--budget-s`` stops starting new runs once that many seconds have gone (results so far are
still written), so a run fits a lease on a borrowed GPU machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.baselines.plain_xgboost import train_plain
from bench.lib.common import (
    finish_facts,
    machine_facts,
    machine_line,
    parse_args,
    seconds,
    spread,
    summarize,
    write_results,
)
from bench.lib.higgs_modules import import_higgs
from bench.lib.plots import grouped_bars

NAME = "gpu_training"
CORES = os.cpu_count() or 1
ROUNDS = 100
METHODS = ("cpu", "cuda", "ray_task_gpu", "xgboost_gpu", "xgboost_ray_gpu", "ray_train_gpu")
# (rows, methods): at 4M rows the single-GPU comparison that matters (CPU vs CUDA, and the
# @task.ray path) fits a short lease; the distributed trainers run at 1M.
PLANS = {
    "default": [(1_000_000, METHODS), (4_000_000, ("cpu", "cuda", "ray_task_gpu", "xgboost_gpu"))],
    "smoke": [(20_000, METHODS)],
}
LABELS = {
    "cpu": f"xgboost hist, CPU (nthread={CORES})",
    "cuda": 'xgboost hist, device="cuda"',
    "ray_task_gpu": "Ray task, num_gpus=1 (the @task.ray path)",
    "xgboost_gpu": 'trainer="xgboost", use_gpu: one Ray task x 1 GPU',
    "xgboost_ray_gpu": "xgboost-ray, 1 actor x 1 GPU",
    "ray_train_gpu": "Ray Train XGBoostTrainer, 1 worker x 1 GPU",
}
NAMESPACE = "gpu-bench"


class NoGpuError(RuntimeError):
    """No CUDA device, or an xgboost built without CUDA: the benchmark cannot mean anything."""


def gpu_facts() -> dict[str, Any]:
    """The GPU and driver (nvidia-smi) and whether this xgboost was built with CUDA."""
    import xgboost as xgb

    if shutil.which("nvidia-smi") is None:
        raise NoGpuError(
            "nvidia-smi is not on PATH: this benchmark needs a machine with an NVIDIA GPU "
            "(on a CPU machine run `python -m bench training` instead)."
        )
    query = "name,driver_version,memory.total"
    line = subprocess.run(
        ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()[0]
    name, driver, memory = (part.strip() for part in line.split(","))
    if not xgb.build_info().get("USE_CUDA"):
        raise NoGpuError(
            f"xgboost {xgb.__version__} was built without CUDA: install the manylinux "
            "x86_64 wheel from PyPI (it includes CUDA), not a CPU-only build."
        )
    return {"gpu": name, "driver": driver, "gpu_memory": memory, "xgboost_cuda": True}


def _train_on_gpu_in_ray(frames, rounds: int) -> dict[str, Any]:
    """The callable of the ``ray_task_gpu`` method: runs inside a Ray task with num_gpus=1."""
    import ray

    train, validation, _test = frames
    booster, boosting = train_plain(train, validation, rounds, nthread=CORES, device="cuda")
    return {
        "booster": booster,
        "boosting_s": boosting,
        "gpu_ids": [str(i) for i in ray.get_gpu_ids()],
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


def _split(rows: int):
    from higgs.model import split
    from higgs.synthetic import synthetic_higgs

    return split(synthetic_higgs(rows))


class RegistryRunner:
    """Runs callables through the provider's result API (``RayResults``), as ``@task.ray`` does.

    The bench drives Ray in this process (``ray.init`` in ``main``), so the client's
    connection is the local one already open; each run of the bench is its own DAG run.
    """

    def __init__(self) -> None:
        from ray_provider.client.results import RayResults
        from ray_provider.client.settings import RaySettings

        settings = RaySettings(conn_id="gpu_bench", address="local", namespace=NAMESPACE)
        self.results = RayResults(settings, settings.conn_id)
        self.run_id = f"gpu-bench-{uuid.uuid4().hex[:8]}"

    def submit(self, function, args: tuple, upstream: list, options: dict[str, Any]):
        """Run ``function(*args)`` on Ray; returns the result's reference once it succeeded."""
        from ray import cloudpickle

        from ray_provider.client.results import remote_exception

        slot = self.results.new_result("gpu_bench", self.run_id, function.__name__)
        run = self.results.run(
            slot, cloudpickle.dumps((function, args, {})), upstream=upstream, options=options
        )
        if not run.report.ok:
            raise remote_exception(run.report)
        return run.ref

    def value(self, ref) -> Any:
        return self.results.materialize(ref)

    def discard(self, ref) -> None:
        self.results.discard(ref)


def methods(runner: RegistryRunner, frames_ref):
    """Each method as ``train(train, validation, rounds) -> (booster, boosting_s, facts)``.

    ``boosting_s`` is the ``xgb.train`` call alone, ``None`` where the trainer does not say.
    """
    from higgs.model import TRAINERS

    from ray_provider.runtime.execute import RefSlot

    def plain(device: str):
        def train(train_frame, validation, rounds):
            booster, boosting = train_plain(
                train_frame, validation, rounds, nthread=CORES, device=device
            )
            return booster, boosting, {}

        return train

    def ray_task(train_frame, validation, rounds):
        options = {"name": "train_on_gpu", "num_gpus": 1, "num_cpus": 1}
        ref = runner.submit(_train_on_gpu_in_ray, (RefSlot(0), rounds), [frames_ref], options)
        result = runner.value(ref)
        runner.discard(ref)
        facts = {k: result[k] for k in ("gpu_ids", "cuda_visible_devices")}
        return result["booster"], result["boosting_s"], facts

    def single_node(train_frame, validation, rounds):
        timings: dict[str, float] = {}
        booster, _, _ = TRAINERS["xgboost"](
            train_frame, validation, rounds=rounds, use_gpu=True, timings=timings
        )
        return booster, timings["boosting"], {}

    def distributed(name: str):
        def train(train_frame, validation, rounds):
            booster, _, _ = TRAINERS[name](
                train_frame,
                validation,
                rounds=rounds,
                num_actors=1,
                cpus_per_actor=max(1, CORES - 2),
                use_gpu=True,
                gpus_per_actor=1,
            )
            return booster, None, {}

        return train

    return {
        "cpu": plain("cpu"),
        "cuda": plain("cuda"),
        "ray_task_gpu": ray_task,
        "xgboost_gpu": single_node,
        "xgboost_ray_gpu": distributed("xgboost_ray"),
        "ray_train_gpu": distributed("ray_train"),
    }


def measure(
    plan: list[tuple[int, tuple[str, ...]]],
    rounds: int,
    repeats: int,
    budget_s: float,
    save: Callable[[list[dict]], None],
) -> list[dict]:
    """Run the plan; ``save`` gets the results after each size, so a cut-off run keeps them."""
    higgs = import_higgs()
    runner = RegistryRunner()
    started = time.monotonic()
    results: list[dict] = []
    for rows, names in plan:
        frames_ref = runner.submit(_split, (rows,), [], {"name": "split", "num_cpus": 1})
        train, validation, test = runner.value(frames_ref)
        train_methods = methods(runner, frames_ref)
        samples: dict[str, list[float]] = {name: [] for name in names}
        boosting: dict[str, list[float]] = {name: [] for name in names}
        aucs: dict[str, float] = {}
        facts: dict[str, dict] = {}
        errors: dict[str, str] = {}
        skipped: list[str] = []
        for index in range(repeats):
            for name in (n for n in names if n not in errors):
                if time.monotonic() - started > budget_s:
                    skipped.append(f"{name} run {index + 1}")
                    continue
                run_started = time.perf_counter()
                try:
                    booster, pure, extra = train_methods[name](train, validation, rounds)
                except Exception as exc:  # reported in the results; the others go on
                    errors[name] = f"{type(exc).__name__}: {exc}"[:800]
                    print(f"{name} failed: {errors[name]}", flush=True)
                    continue
                samples[name].append(time.perf_counter() - run_started)
                if pure is not None:
                    boosting[name].append(pure)
                facts[name] = extra
                aucs[name] = higgs.model.evaluate(booster, test)["auc"]
                print(
                    f"{rows:>10,} rows x {rounds} rounds, {name:16s} run {index + 1}: "
                    f"{seconds(samples[name][-1])}, AUC {aucs[name]:.4f} {extra or ''}",
                    flush=True,
                )
        runner.discard(frames_ref)
        work = len(train) * rounds
        results.append(
            {
                "rows": rows,
                "train_rows": len(train),
                "rounds": rounds,
                "methods": {
                    name: {
                        "seconds": summarize(samples[name]),
                        "rows_per_s": summarize([work / s for s in samples[name]]),
                        "boosting_s": summarize(boosting[name]) if boosting[name] else None,
                        "auc": aucs[name],
                        "facts": facts.get(name) or None,
                    }
                    for name in names
                    if samples[name]
                },
                "failed": errors,
                "skipped_for_budget": skipped,
            }
        )
        save(results)
    return results


def speedup_vs_cpu(entry: dict[str, Any], name: str) -> float | None:
    """How many times faster ``name`` ran than the CPU baseline (medians of whole calls)."""
    mine, cpu = entry["methods"].get(name), entry["methods"].get("cpu")
    if not mine or not cpu:
        return None
    return cpu["seconds"]["median"] / mine["seconds"]["median"]


def markdown(data: dict[str, Any]) -> str:
    gpu = data["gpu"]
    lines = [
        "# GPU training: xgboost on CUDA vs all CPU cores, and through Ray",
        "",
        machine_line(data["machine"]),
        f"GPU: {gpu['gpu']} ({gpu['gpu_memory']}), driver {gpu['driver']}.",
        "",
        "Synthetic HIGGS split as the pipeline does, the pipeline's parameters (hist, depth 8, "
        f"eta 0.1, logloss + error on train and validation every round), {data['rounds']} rounds; "
        f"median (min - max) of {data['repeats']} runs per method, methods alternating. Whole "
        "call = building the DMatrix (or handing the frames to Ray), starting actors, boosting; "
        "boosting = `xgb.train` alone. Where the time budget cut a method short, its cell says "
        "how many runs it had.",
        "",
        "| rows | method | whole call | rows/s (train rows x rounds / s) | vs CPU | boosting "
        "| test AUC |",
        "| ---: | --- | --- | ---: | ---: | --- | ---: |",
    ]
    for entry in data["results"]:
        for name, r in entry["methods"].items():
            speedup = speedup_vs_cpu(entry, name)
            runs = len(r["seconds"]["samples"])
            short = f" ({runs} runs)" if runs < data["repeats"] else ""
            lines.append(
                f"| {entry['rows']:,} | {LABELS[name]} | {spread(r['seconds'])}{short} | "
                f"{r['rows_per_s']['median']:,.0f} | "
                f"{f'{speedup:.2f}x' if speedup else 'n/a'} | {spread(r.get('boosting_s'))} | "
                f"{r['auc']:.4f} |"
            )
        for name, error in entry.get("failed", {}).items():
            lines.append(f"| {entry['rows']:,} | {LABELS[name]} | failed: {error} | | | | |")
        if entry.get("skipped_for_budget"):
            lines.append(
                f"| {entry['rows']:,} | skipped (time budget) | "
                f"{', '.join(entry['skipped_for_budget'])} | | | | |"
            )
    seen = {
        name: r["facts"]
        for entry in data["results"]
        for name, r in entry["methods"].items()
        if r.get("facts")
    }
    if "ray_task_gpu" in seen:
        task = seen["ray_task_gpu"]
        lines += [
            "",
            f"Inside the `num_gpus=1` Ray task: `ray.get_gpu_ids()` = {task['gpu_ids']}, "
            f"CUDA_VISIBLE_DEVICES = {task['cuda_visible_devices']!r}.",
        ]
    lines += ["", f"![gpu training]({data['name']}.png)", ""]
    return "\n".join(lines)


def plot(data: dict[str, Any], path: Path) -> Path:
    groups = [f"{e['rows']:,} rows x {e['rounds']} rounds" for e in data["results"]]
    names = [n for n in METHODS if any(n in e["methods"] for e in data["results"])]
    series = {
        LABELS[name]: [e["methods"].get(name, {}).get("rows_per_s") for e in data["results"]]
        for name in names
    }
    return grouped_bars(
        path,
        f"Training throughput, {data['gpu']['gpu']} vs {CORES} CPU cores (median, min-max)",
        groups,
        series,
        "rows/s (train rows x rounds / s)",
    )


def _let_workers_import_this_checkout() -> None:
    """The local Ray this benchmark starts gives its workers this environment: let them import
    ``bench`` and ``higgs`` (this module's callables travel by reference)."""
    from bench.lib.common import ROOT

    paths = [str(ROOT), str(ROOT / "dags"), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)


def _options(parser) -> None:
    parser.add_argument("--budget-s", type=float, default=900.0, help="stop starting runs after")
    parser.add_argument("--name", default=NAME, help="results file name")


def headlines(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The rows this benchmark adds to the combined report: (measure, goal, result)."""
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, argv, _options)
    try:
        gpu = gpu_facts()
    except NoGpuError as exc:
        print(f"bench.suites.gpu_training: {exc}", file=sys.stderr)
        return 2
    import ray

    started, facts = time.monotonic(), machine_facts()
    rounds = 5 if args.smoke else ROUNDS
    _let_workers_import_this_checkout()
    ray.init(num_gpus=1, include_dashboard=False, namespace=NAMESPACE)

    def save(results: list[dict]) -> None:
        data = {
            "machine": finish_facts(facts, started),
            "gpu": gpu,
            "cores": CORES,
            "name": args.name,
            "rounds": rounds,
            "repeats": args.repeats,
            "results": results,
        }
        text = markdown(data)
        json_path, md_path = write_results(args.name, data, text, args.results_dir)
        plot(data, md_path.with_suffix(".png"))
        print(text)
        print(f"wrote {json_path}, {md_path}", flush=True)

    try:
        plan = PLANS["smoke" if args.smoke else "default"]
        measure(plan, rounds, args.repeats, args.budget_s, save)
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
