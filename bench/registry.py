"""Every benchmark, listed once: its name, module, what it needs, and the results it writes.

``python -m bench`` runs the ones in the suite and builds the combined report from their
results files, ``python -m bench NAME`` runs one alone (``make bench-gpu`` is
``python -m bench gpu``), ``python -m bench --list`` prints this table, and the tests check
every entry. A benchmark module (under ``bench/suites/``) has ``main(argv) -> int`` and
``headlines(data) -> [(measure, goal, result)]``, the rows it contributes to the report.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

# What a benchmark takes from the platform `python -m bench` shares: nothing (it starts its own
# services), a Ray head, or Ray with Airflow. The suite runs them in that order, so the ones
# that measure without Airflow run before an idle scheduler polls beside them.
Needs = Literal["none", "ray", "airflow"]
RUN_ORDER: tuple[Needs, ...] = ("none", "ray", "airflow")


@dataclass(frozen=True)
class Results:
    """One results file (``<stem>.json``, ``.md``, ``.png`` in ``bench/results/``)."""

    stem: str
    title: str
    # Written by runs outside `python -m bench` (a larger plan, a GPU machine): the report
    # shows it when present and says nothing when it is not.
    optional: bool = False


@dataclass(frozen=True)
class Benchmark:
    name: str
    module: str
    needs: Needs
    description: str
    results: tuple[Results, ...]
    in_suite: bool = True  # run by `python -m bench` (the GPU one needs a GPU machine)

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


# In the order of the combined report.
BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        name="handoff",
        module="bench.suites.handoff",
        needs="airflow",
        description="a frame from one @task.ray task to the next vs ray.get, S3 Parquet, XCom",
        results=(Results("handoff", "Handoff between tasks"),),
    ),
    Benchmark(
        name="overhead",
        module="bench.suites.overhead",
        needs="airflow",
        description="the HIGGS DAG through the scheduler vs the same steps as one script",
        results=(Results("overhead", "Orchestration overhead"),),
    ),
    Benchmark(
        name="training",
        module="bench.suites.training",
        needs="ray",
        description="plain xgboost vs the pipeline's trainers (one node, xgboost-ray, Ray Train)",
        results=(
            Results("training", "Training throughput"),
            Results("training_full", "Training throughput, 1M and 4M rows", optional=True),
        ),
    ),
    Benchmark(
        name="training_scale_out",
        module="bench.suites.training_scale_out",
        needs="none",
        description="two 1-CPU Ray nodes: one node's xgboost vs xgboost-ray and Ray Train on both",
        results=(Results("training_scale_out", "Training scale-out"),),
    ),
    Benchmark(
        name="checkpoint",
        module="bench.suites.checkpoint_throughput",
        needs="none",
        description="checkpoint write/read of a HIGGS-sized frame vs raw S3 put/get",
        results=(Results("checkpoint_throughput", "Checkpoint throughput"),),
    ),
    Benchmark(
        name="live_output",
        module="bench.suites.live_output",
        needs="ray",
        description="a callable printing 200k lines live vs printing to memory; every line arrives",
        results=(Results("live_output", "Live task output"),),
    ),
    Benchmark(
        name="gpu",
        module="bench.suites.gpu_training",
        needs="none",
        description="xgboost on CUDA vs every CPU core, and through Ray (needs an NVIDIA GPU)",
        results=(Results("gpu_training", "GPU training", optional=True),),
        in_suite=False,
    ),
)
BY_NAME = {benchmark.name: benchmark for benchmark in BENCHMARKS}
SUITE = tuple(
    sorted(
        (benchmark for benchmark in BENCHMARKS if benchmark.in_suite),
        key=lambda benchmark: RUN_ORDER.index(benchmark.needs),
    )
)


def results_files() -> list[tuple[Benchmark, Results]]:
    """Every results file of every benchmark, in the order of the combined report."""
    return [(benchmark, results) for benchmark in BENCHMARKS for results in benchmark.results]


def listing() -> str:
    """The table ``python -m bench --list`` prints."""
    width = max(len(benchmark.name) for benchmark in BENCHMARKS)
    lines = []
    for benchmark in BENCHMARKS:
        where = "" if benchmark.in_suite else "  (not in `python -m bench`: run it alone)"
        lines.append(f"{benchmark.name.ljust(width)}  {benchmark.description}{where}")
    return "\n".join(lines)
