"""The combined report, ``README.md`` in the results folder: every goal on one page.

Built from the per-benchmark JSON files named in ``bench/registry.py``, each benchmark's rows by
its own ``headlines(data)``, so a partial run (``--only``) still shows the other
benchmarks' latest numbers, each with the date it was measured.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.lib.common import machine_line, seconds
from bench.registry import results_files


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
    for benchmark, results in results_files():
        name, title = results.stem, results.title
        path = results_dir / f"{name}.json"
        if not path.exists():
            if not results.optional:
                lines.append(f"| {title} | not run yet | | | |")
            continue
        data = json.loads(path.read_text())
        machines[name] = (title, data["machine"])
        for measure, goal, result in benchmark.load().headlines(data):
            lines.append(
                f"| [{title}]({name}.md) | {measure} | {goal} | {result} | "
                f"{data['machine']['when']} |"
            )
    lines += ["", "Machines (one line per benchmark):", ""]
    lines += [f"* {title}: {machine_line(facts)}" for title, facts in machines.values()]
    lines += [""]
    lines += [f"![{name}]({name}.png)" for name in machines]
    lines.append("")
    path = results_dir / "README.md"
    path.write_text("\n".join(lines))
    return path
