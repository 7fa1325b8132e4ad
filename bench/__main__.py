"""``python -m bench`` (``make bench``): every benchmark, then the combined report.

Each benchmark runs in its own process (one Ray connection per process, and no state
carried from one benchmark to the next); the Ray head, S3 server and Airflow are started
once here and handed to them (``--platform``). Order: checkpoint throughput (its own S3
server, nothing else running), training (Ray only), then Airflow starts for the handoff and
the orchestration overhead. Everything started is stopped by PID at the end.

    python -m bench                              # all four, results in bench/results/
    python -m bench --only handoff,training --smoke --results-dir /tmp/bench
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import RESULTS, ROOT
from bench.report import write_summary

# name -> (module, what it needs from the shared platform: None, "ray" or "airflow")
BENCHMARKS = {
    "checkpoint": ("bench.checkpoint_throughput", None),
    "training": ("bench.training", "ray"),
    "handoff": ("bench.handoff", "airflow"),
    "overhead": ("bench.overhead", "airflow"),
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma-separated subset of: {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, 1 repeat: a check")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (smoke: 1)")
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in args.only if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    args.repeats = args.repeats or (1 if args.smoke else 3)
    return args


def run_one(name: str, args: argparse.Namespace, platform_file: Path | None) -> bool:
    module, _ = BENCHMARKS[name]
    command = [sys.executable, "-m", module, f"--results-dir={args.results_dir}"]
    command.append(f"--repeats={args.repeats}")
    if args.smoke:
        command.append("--smoke")
    if platform_file is not None:
        command.append(f"--platform={platform_file}")
    print(f"==> {name}: {' '.join(command[1:])}", flush=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode == 0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    args.results_dir = args.results_dir.resolve()
    args.results_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    durations: dict[str, float] = {}
    failed: list[str] = []
    services: dict[str, str] = {}  # where the shared services lived (to check none is left)

    def timed_run(name: str, platform_file: Path | None) -> None:
        begun = time.monotonic()
        if not run_one(name, args, platform_file):
            failed.append(name)
        durations[name] = time.monotonic() - begun

    selected = [name for name in BENCHMARKS if name in args.only]
    if "checkpoint" in selected:
        timed_run("checkpoint", None)
    shared = [name for name in selected if BENCHMARKS[name][1]]
    if shared:
        from bench.stack import local_platform

        work = Path(tempfile.mkdtemp(prefix="bench-platform-"))
        try:
            consumers = {"BENCH_HANDOFF_CONSUMERS": str(args.repeats)}
            with local_platform(work, airflow_env=consumers) as platform:
                services = {
                    "work_dir": str(work),
                    "ray_temp_dir": str(platform.head.temp_dir),
                    "s3_root": str(platform.s3.root),
                }
                state = work / "platform.json"
                for name in shared:
                    if BENCHMARKS[name][1] == "airflow" and platform.airflow is None:
                        begun = time.monotonic()
                        print("==> starting Airflow for the benchmarks that need it", flush=True)
                        platform.ensure_airflow()
                        durations["airflow start"] = time.monotonic() - begun
                    state.write_text(platform.to_json())
                    timed_run(name, state)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    run = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "argv": list(argv if argv is not None else sys.argv[1:]),
        "total_seconds": time.monotonic() - started,
        "seconds": durations,
        "failed": failed,
        "services": services,
    }
    (args.results_dir / "bench_run.json").write_text(json.dumps(run, indent=2))
    summary = write_summary(args.results_dir, run)
    print(f"==> {summary} ({run['total_seconds'] / 60:.1f} minutes in all)")
    if failed:
        print(f"==> FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
