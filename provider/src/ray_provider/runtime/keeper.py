"""Keep warm Ray workers for ``@task.ray`` (run by ``python -m ray_provider.cli.keeper``).

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

import logging
import threading
import time

import ray

from ray_provider.runtime.registry import current_registry, get_or_create_registry, kill_registry

log = logging.getLogger("ray_provider.cli.keeper")


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
