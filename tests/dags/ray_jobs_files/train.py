"""A Ray job's entrypoint for the tests: prints rounds, can wait on a gate, fail or run on.

Sent to the cluster as the job's working_dir; it runs as the job's driver.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def wait_for(gate: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not Path(gate).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {gate} never opened")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gate", default="")
    parser.add_argument("--fail", default="")
    parser.add_argument("--forever", action="store_true")
    parser.add_argument("--pid-file", default="")
    parser.add_argument("--print-json", action="store_true")
    args = parser.parse_args()

    import ray

    ray.init()  # the job's driver joins its cluster
    if args.pid_file:
        Path(args.pid_file).write_text(str(os.getpid()))
    label = os.environ.get("TRAIN_LABEL", "job")
    for round_ in range(1, args.rounds + 1):
        print(f"{label} round {round_} logloss={0.7 - round_ / 10:.2f}", flush=True)
        if round_ == 1 and args.gate:
            wait_for(args.gate, 300)
    if args.fail:
        print("about to fail", file=sys.stderr, flush=True)
        raise ValueError(args.fail)
    if args.forever:
        print("training that never ends", flush=True)
        wait_for("/nonexistent/gate", 3600)
    cpus = ray.cluster_resources().get("CPU", 0)
    result = {"rounds": args.rounds, "label": label, "cluster_cpus": cpus}
    if args.print_json:
        print(json.dumps(result))
    else:
        with open(os.environ["RAY_JOB_RESULT_FILE"], "w") as file:
            json.dump(result, file)


if __name__ == "__main__":
    main()
