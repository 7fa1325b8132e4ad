"""Keep warm Ray workers for ``@task.ray``: ``python -m ray_provider.keeper --address ADDR``.

Why this process exists: the result registry (a detached actor) submits every ``@task.ray``
callable, so the callables run in worker processes of the registry's Ray job, which is the job
of the driver that created the actor. Ray reuses idle worker processes only while that job's
driver is alive. If an Airflow task process creates the registry, its job ends with the task,
and from then on every callable waits for a new Python worker (interpreter, Ray, pandas
imports): about 5 s per task on 2 cores, against 0.5 s with a live owner
(``bench/results/handoff.md``). This small driver creates the registry itself and stays
connected. Run it next to the Ray head: ``make demo`` and the tests start it after ``ray start``,
the Helm chart runs it as a sidecar of the head pod.

If a registry made by another job already exists, the keeper takes over as soon as that
registry holds no results (it is retired atomically, so no submission is lost); until then it
says so and waits. It never drops results. Stop it with SIGTERM or Ctrl-C; results stay.
Runs on the Ray side, so it must not import Airflow.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
import time

import ray

from ray_provider.runtime.keys import DEFAULT_NAMESPACE, DEFAULT_RESULT_TTL_SECONDS
from ray_provider.runtime.registry import current_registry, get_or_create_registry, kill_registry

log = logging.getLogger("ray_provider.keeper")


class Keeper:
    """Makes sure the namespace's registry is one this driver created; see the module doc."""

    def __init__(self, namespace: str, ttl_seconds: float) -> None:
        self.namespace = namespace
        self.ttl_seconds = ttl_seconds
        self.job_id = ray.get_runtime_context().get_job_id()
        self._waiting_reported = False

    def tend(self) -> str:
        """One check; returns what the registry's state is now ("kept", "waiting")."""
        current = current_registry(self.namespace)
        if current is None:
            get_or_create_registry(self.namespace, self.ttl_seconds)
            current = current_registry(self.namespace)
        if current is not None and ray.get(current.job_id.remote()) == self.job_id:
            return "kept"
        if not ray.get(current.retire_if_idle.remote()):
            if not self._waiting_reported:
                stats = ray.get(current.stats.remote())
                log.warning(
                    "A result registry created by another Ray job holds %d result(s) of %d "
                    "run(s); taking over once they are released (runs ending, or the TTL).",
                    stats["results"],
                    stats["runs"],
                )
                self._waiting_reported = True
            return "waiting"
        kill_registry(self.namespace)  # retired: it holds nothing and accepts nothing
        get_or_create_registry(self.namespace, self.ttl_seconds)
        log.info("Replaced an idle result registry left by another Ray job.")
        self._waiting_reported = False
        return self.tend()


def connect(address: str, namespace: str, timeout: float, stop: threading.Event) -> bool:
    """Join the Ray cluster, waiting up to ``timeout`` seconds for it to come up.

    As a sidecar of the head pod the keeper starts together with ``ray start``: failing at once
    would only put the container into a crash-and-restart back-off. Returns False on a stop
    signal; raises Ray's ConnectionError, with what to check, once the deadline has passed.
    """
    deadline = time.monotonic() + timeout
    reported = False
    while not stop.is_set():
        try:
            ray.init(
                address=address,
                namespace=namespace,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
            return True
        except ConnectionError as error:
            if time.monotonic() > deadline:
                raise ConnectionError(
                    f"no Ray cluster answered at {address} within {timeout:.0f}s ({error}). Check "
                    "that `ray start` runs there, and on Kubernetes that the keeper shares the "
                    "head container's /tmp/ray and process namespace (shareProcessNamespace)."
                ) from error
            if not reported:
                log.info("Waiting for the Ray cluster at %s (up to %.0fs)", address, timeout)
                reported = True
            ray.shutdown()
            stop.wait(2.0)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ray_provider.keeper",
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
