"""Profile where a benchmark's time goes with py-spy: ``python -m bench.profile training``.

The goals that a benchmark misses are explained from these profiles (bench/README.md). py-spy
samples every Python process of the run (``--subprocesses``: the script, and the Ray workers
and actors that its local Ray starts) with native frames, into collapsed stacks; the summary
lists, per process, the share of samples by the innermost frames that matter.

    python -m bench.profile training [--rows 1000000] [--rounds 20] [--out bench/results/profiles]
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
from pathlib import Path

from bench.common import RESULTS, ROOT

TARGETS = {
    # name -> (module run under py-spy, what it shows)
    "training": (
        "bench.profile_training",
        "xgboost-ray (1 actor x all CPUs) and plain xgboost on the same frame, one after the other",
    ),
}
PROCESS = re.compile(r"^process (\d+):\"([^\"]*)\"")


def _process_label(frame: str) -> str:
    match = PROCESS.match(frame)
    if not match:
        return frame
    command = match.group(2)
    for marker in ("ray::", "bench.profile_training", "raylet", "gcs_server"):
        if marker in command:
            return command[command.index(marker) :].split(" ")[0]
    return command[:60]


def summarize(collapsed: Path, top: int = 12) -> str:
    """Per process: samples, and the top innermost frames (self time) with their shares."""
    per_process: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    totals: collections.Counter = collections.Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        process = _process_label(frames[0])
        leaf = frames[-1]
        per_process[process][leaf] += int(count)
        totals[process] += int(count)
    lines = []
    for process, total in totals.most_common(6):
        lines += [f"### {process} ({total} samples)", "", "| share | innermost frame |"]
        lines.append("| ---: | --- |")
        for frame, count in per_process[process].most_common(top):
            lines.append(f"| {100 * count / total:.1f}% | `{frame[:140]}` |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--rate", type=int, default=50, help="py-spy samples per second")
    parser.add_argument("--out", type=Path, default=RESULTS / "profiles")
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        parser.error("py-spy is not installed: `uv sync` installs it (dev dependency)")
    module, what = TARGETS[args.target]
    args.out.mkdir(parents=True, exist_ok=True)
    collapsed = args.out / f"{args.target}.collapsed.txt"
    command = [
        py_spy,
        "record",
        "--subprocesses",
        "--native",
        "--idle",
        f"--rate={args.rate}",
        "--format=raw",
        f"--output={collapsed}",
        "--",
        sys.executable,
        "-m",
        module,
        f"--rows={args.rows}",
        f"--rounds={args.rounds}",
    ]
    print(" ".join(command), flush=True)
    result = subprocess.run(command, cwd=ROOT, check=False, capture_output=True, text=True)
    timings = [line for line in result.stdout.splitlines() if line.startswith("PHASE ")]
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:], file=sys.stderr)
        return result.returncode
    report = args.out / f"{args.target}.md"
    report.write_text(
        f"# Profile: {args.target}\n\n{what}; {args.rows:,} rows, {args.rounds} rounds; py-spy "
        f"{args.rate} Hz, native frames, idle samples included.\n\n"
        + "\n".join(f"* {line[6:]}" for line in timings)
        + "\n\n"
        + summarize(collapsed)
    )
    print(report.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
