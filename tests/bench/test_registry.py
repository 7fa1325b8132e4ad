"""``bench/registry.py``: the one list of benchmarks, and every consumer reads it.

Fast (imports and a ``--list``, no services): a benchmark added to the registry without a
module that runs and reports, or a Makefile target naming a benchmark that is not there,
fails here instead of halfway through a 30-minute ``make bench``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bench.registry import BENCHMARKS, BY_NAME, SUITE

ROOT = Path(__file__).resolve().parents[2]


def test_every_benchmark_module_runs_and_reports():
    for benchmark in BENCHMARKS:
        module = benchmark.load()
        assert callable(module.main) and callable(module.headlines), benchmark.name
        assert benchmark.module.startswith("bench.suites."), benchmark.module


def test_names_and_results_files_are_unique():
    stems = [r.stem for benchmark in BENCHMARKS for r in benchmark.results]
    assert len(stems) == len(set(stems)) and len(BY_NAME) == len(BENCHMARKS)


def test_the_suite_runs_what_needs_no_shared_service_first_and_airflow_last():
    order = [benchmark.needs for benchmark in SUITE]
    assert order == sorted(order, key=("none", "ray", "airflow").index)
    assert "gpu" not in [benchmark.name for benchmark in SUITE]


def test_list_names_every_benchmark():
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    listed = [line.split()[0] for line in run.stdout.splitlines() if line.strip()]
    assert listed == [benchmark.name for benchmark in BENCHMARKS]


def test_the_makefile_runs_registered_benchmarks():
    makefile = (ROOT / "Makefile").read_text()
    named = re.findall(r"-m bench (\w+)", makefile)
    assert named and all(name in BY_NAME for name in named), named
