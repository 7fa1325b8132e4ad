"""Shared by the benchmarks: timing with median/min/max, machine facts, result files.

Every benchmark is a module with ``main(argv)`` that takes ``--results-dir`` and ``--smoke``
(see :func:`parse_args`), so ``python -m bench`` can run each in its own process (one Ray
connection per process, as Ray allows) and a test can run them all at a tiny size into a
temporary directory instead of ``bench/results``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[1] / "results"
ROOT = Path(__file__).resolve().parents[2]
# How a goal reads in the result tables.
MET = {True: "met", False: "**missed**"}


def summarize(samples: list[float]) -> dict[str, Any]:
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "samples": samples,
    }


def timed(action: Callable[[], Any], repeats: int, before: Callable[[], Any] | None = None):
    """Run ``action`` ``repeats`` times; returns median, min and max seconds."""
    samples = []
    for _ in range(repeats):
        if before is not None:
            before()
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return summarize(samples)


def machine_facts() -> dict[str, Any]:
    """Where and when the numbers were made, including how busy the machine was."""
    import psutil
    import ray

    facts = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "ray": ray.__version__,
        "platform": platform.platform(),
    }
    for module in ("pyarrow", "minio", "xgboost", "xgboost_ray", "pandas", "numpy", "airflow"):
        try:
            facts[module] = __import__(module).__version__
        except (ImportError, AttributeError):
            pass
    return facts


def finish_facts(facts: dict[str, Any], started: float) -> dict[str, Any]:
    """Add the load average at the end and the benchmark's own wall time to ``facts``."""
    facts["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    facts["benchmark_seconds"] = round(time.monotonic() - started, 1)
    return facts


def machine_line(facts: dict[str, Any]) -> str:
    """One markdown line naming the machine, versions and load, for every result table."""
    load = facts.get("load_average", ["?"])[0]
    load_end = facts.get("load_average_end", ["?"])[0]
    airflow = facts.get("airflow") or "not installed"
    return (
        f"Machine: {facts['cpus']} CPUs, {facts['ram_gib']} GiB RAM, Python {facts['python']}, "
        f"Ray {facts['ray']}, xgboost {facts.get('xgboost')}, Airflow {airflow}; "
        f"1-minute load average {load} at the start, {load_end} at the end; {facts['when']}."
    )


def write_results(
    name: str, data: dict[str, Any], markdown: str, results_dir: Path | None = None
) -> tuple[Path, Path]:
    results_dir = results_dir or RESULTS
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path = results_dir / f"{name}.json"
    md_path = results_dir / f"{name}.md"
    json_path.write_text(json.dumps(data, indent=2, default=str))
    md_path.write_text(markdown)
    return json_path, md_path


def parse_args(
    description: str | None,
    argv: Sequence[str] | None,
    add: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """The options every benchmark takes, plus its own (``add``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS, help="where the JSON/markdown/PNG go"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes: checks the benchmark works, fast"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (>= 3)")
    if add is not None:
        add(parser)
    return parser.parse_args(argv)


def seconds(value: float | None) -> str:
    """A duration for a table: 3 significant digits, or n/a."""
    if value is None:
        return "n/a"
    if value < 0.01:
        return f"{value * 1000:.2f} ms"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


def spread(stats: dict[str, Any] | None) -> str:
    """``median (min - max)`` for a table cell."""
    if not stats:
        return "n/a"
    return f"{seconds(stats['median'])} ({seconds(stats['min'])} - {seconds(stats['max'])})"
