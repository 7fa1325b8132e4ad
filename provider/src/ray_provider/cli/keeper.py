"""``python -m ray_provider.cli.keeper --address ADDR``: keep the result registry's Ray job alive.

Why it exists and what it does: ``ray_provider.runtime.keeper``. Runs on the Ray side (the
head pod's sidecar, next to ``ray start`` in ``make demo``), so it must not import Airflow.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading

import ray

from ray_provider.runtime.keeper import Keeper, connect, log
from ray_provider.runtime.keys import DEFAULT_NAMESPACE, DEFAULT_RESULT_TTL_SECONDS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ray_provider.cli.keeper",
        description="Create the @task.ray result registry and keep its Ray job alive, so Ray "
        "reuses worker processes between tasks.",
    )
    parser.add_argument(
        "--address",
        default=os.environ.get("RAY_ADDRESS", "auto"),
        help="Ray address: HOST:6379 (a node of the cluster), ray://HOST:10001, or auto "
        "(default: $RAY_ADDRESS, else auto)",
    )
    parser.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="as in the connection")
    parser.add_argument("--result-ttl-seconds", type=float, default=DEFAULT_RESULT_TTL_SECONDS)
    parser.add_argument("--check-seconds", type=float, default=10.0, help="how often to check")
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the Ray cluster to come up (default 300)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if not connect(args.address, args.namespace, args.connect_timeout, stop):
        return 0
    keeper = Keeper(args.namespace, args.result_ttl_seconds)
    last = None
    try:
        while not stop.is_set():
            state = keeper.tend()
            if state != last and state == "kept":
                log.info(
                    "Keeping the result registry in namespace %r (Ray job %s) at %s",
                    args.namespace,
                    keeper.job_id,
                    args.address,
                )
                print("keeper ready", flush=True)
            last = state
            stop.wait(args.check_seconds)
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
