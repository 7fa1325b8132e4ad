"""Profile where xgboost-ray's training time goes, with py-spy.

``python -m bench.profiling.sampling`` (a module of its own name: ``bench/profile.py`` shadowed
the standard library's ``profile``) runs ``bench.profiling.training_run`` (xgboost-ray with 1
actor, then plain xgboost, on the frame of bench/suites/training.py), waits for the training
actor to start boosting, and samples that actor's threads with py-spy (``--nonblocking``: the
sampled process is never paused, so the numbers it prints are not skewed; native frames need
pausing and are left out). The summary gives, per thread, the share of samples by innermost
Python frame; the collapsed stacks are kept beside it.

    python -m bench.profiling.sampling [--rows 1000000] [--rounds 20] [--seconds 14] [--out DIR]
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import time
from pathlib import Path

import psutil

from bench.lib.common import RESULTS, ROOT

ACTOR = "ray::_RemoteRayXGBoostActor"
STARTED = "Starting XGBoost training"


def summarize(collapsed: Path, top: int = 8) -> str:
    """Per thread: samples, and the top innermost frames with their shares."""
    per_thread: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        thread = f"{frames[0]} {frames[1]}" if len(frames) > 1 else frames[0]
        per_thread[thread][frames[-1].strip()] += int(count)
    lines = []
    for thread, counter in sorted(per_thread.items(), key=lambda kv: -sum(kv[1].values())):
        total = sum(counter.values())
        lines += [f"### {thread} ({total} samples)", "", "| share | innermost frame |"]
        lines.append("| ---: | --- |")
        for frame, count in counter.most_common(top):
            lines.append(f"| {100 * count / total:.0f}% | `{frame[:120]}` |")
        lines.append("")
    return "\n".join(lines)


def _wait_for_actor(log: Path, target: subprocess.Popen, timeout: float = 300) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and target.poll() is None:
        actors = [
            p.pid
            for p in psutil.process_iter(["pid", "cmdline"])
            if any(ACTOR in part for part in p.info["cmdline"] or [])
        ]
        if actors and STARTED in log.read_text():
            return actors[0]
        time.sleep(0.2)
    raise RuntimeError(f"the training actor never started boosting:\n{log.read_text()[-3000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profiling.sampling", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=14, help="how long to sample the actor")
    parser.add_argument("--out", type=Path, default=RESULTS / "profiles")
    args = parser.parse_args(argv)
    py_spy = Path(sys.executable).with_name("py-spy")
    args.out.mkdir(parents=True, exist_ok=True)
    log, collapsed = args.out / "training.log", args.out / "training.collapsed.txt"
    command = [sys.executable, "-m", "bench.profiling.training_run", f"--rows={args.rows}"]
    command.append(f"--rounds={args.rounds}")
    with log.open("w") as sink:
        target = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
    try:
        actor = _wait_for_actor(log, target)
        sampling = ["--nonblocking", "--idle", "--threads", "--rate=20", "--format=raw"]
        window = [f"--duration={args.seconds}", f"-o={collapsed}"]
        subprocess.run(
            [str(py_spy), "record", f"--pid={actor}", *sampling, *window],
            check=True,
            capture_output=True,
        )
        target.wait(timeout=600)
    finally:
        if target.poll() is None:
            target.kill()
    phases = [line[6:] for line in log.read_text().splitlines() if line.startswith("PHASE ")]
    report = args.out / "training.md"
    report.write_text(
        f"# Profile: xgboost-ray training actor\n\n{args.rows:,} rows, {args.rounds} rounds; "
        f"py-spy 20 Hz for {args.seconds} s from the start of boosting, idle samples included."
        "\n\n" + "".join(f"* {p}\n" for p in phases) + "\n" + summarize(collapsed)
    )
    print(report.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
