"""``python -m bench`` (``make bench``): every benchmark, then the combined report.

The benchmarks are listed once, in ``bench/registry.py``. Each runs in its own process (one Ray
connection per process, and no state carried from one benchmark to the next); the Ray head, S3
server and Airflow are started once here and handed to them (``--platform``). Order: checkpoint
throughput (its own S3 server, nothing else running), training (Ray only), then Airflow starts
for the handoff and the orchestration overhead. Everything started is stopped by PID at the
end.

    python -m bench                              # the suite, results in bench/results/
    python -m bench --only handoff,training --smoke --results-dir /tmp/bench
    python -m bench training --plan full         # one benchmark alone, with its own options
    python -m bench --list                       # every benchmark, one line each
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

from bench.lib.common import RESULTS, ROOT
from bench.lib.report import write_summary
from bench.registry import BY_NAME, SUITE, listing

NAMES = [benchmark.name for benchmark in SUITE]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        epilog=f"benchmarks (python -m bench NAME [its options] runs one alone):\n{listing()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only",
        default=",".join(NAMES),
        help=f"comma-separated subset of: {', '.join(NAMES)}",
    )
    parser.add_argument("--list", action="store_true", help="list every benchmark and exit")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, 1 repeat: a check")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (smoke: 1)")
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in args.only if name not in NAMES]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {NAMES}")
    args.repeats = args.repeats or (1 if args.smoke else 3)
    return args


def _env() -> dict[str, str]:
    """A benchmark process's environment: this one's, with this checkout importable."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def run_alone(name: str, argv: list[str]) -> int:
    """``python -m bench NAME ...``: one benchmark in its own process, its exit status."""
    command = [sys.executable, "-m", BY_NAME[name].module, *argv]
    return subprocess.run(command, env=_env(), check=False).returncode


def run_one(name: str, args: argparse.Namespace, platform_file: Path | None) -> bool:
    command = [sys.executable, "-m", BY_NAME[name].module, f"--results-dir={args.results_dir}"]
    command.append(f"--repeats={args.repeats}")
    if args.smoke:
        command.append("--smoke")
    if platform_file is not None:
        command.append(f"--platform={platform_file}")
    print(f"==> {name}: {' '.join(command[1:])}", flush=True)
    return subprocess.run(command, cwd=ROOT, env=_env(), check=False).returncode == 0


def main(argv: list[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if given and given[0] in BY_NAME:
        return run_alone(given[0], given[1:])
    args = parse(argv)
    if args.list:
        print(listing())
        return 0
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

    selected = [benchmark for benchmark in SUITE if benchmark.name in args.only]
    for benchmark in selected:
        if benchmark.needs == "none":
            timed_run(benchmark.name, None)
    shared = [benchmark for benchmark in selected if benchmark.needs != "none"]
    if shared:
        from bench.lib.stack import local_platform

        work = Path(tempfile.mkdtemp(prefix="bench-platform-"))
        try:
            consumers = {"BENCH_HANDOFF_CONSUMERS": str(args.repeats)}
            with local_platform(work) as platform:
                services = {
                    "work_dir": str(work),
                    "ray_temp_dir": str(platform.head.temp_dir),
                    "s3_root": str(platform.s3.root),
                }
                state = work / "platform.json"
                for benchmark in shared:
                    if benchmark.needs == "airflow" and platform.airflow is None:
                        begun = time.monotonic()
                        print("==> starting Airflow for the benchmarks that need it", flush=True)
                        platform.start_airflow(extra_env=consumers)
                        durations["airflow start"] = time.monotonic() - begun
                    state.write_text(json.dumps(platform.state(), indent=2))
                    timed_run(benchmark.name, state)
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
