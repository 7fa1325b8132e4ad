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
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import ray

from ray_provider.runtime.registry import current_registry, get_or_create_registry, kill_registry

log = logging.getLogger("ray_provider.cli.keeper")

# What one look at the registry calls for.
Step = Literal["create", "keep", "take_over"]
# What ``Keeper.tend`` reports: the registry is this driver's, or another job's that is busy.
State = Literal["kept", "waiting"]


def next_step(owner_job: str | None, my_job: str) -> Step:
    """The keeper's decision from who owns the registry now (``None``: there is none).

    None: create it from this driver. This driver's own job: keep it (nothing to do). Another
    job's: try to take it over, which succeeds only while it holds no results (``Keeper``).
    """
    if owner_job is None:
        return "create"
    if owner_job == my_job:
        return "keep"
    return "take_over"


class Registries(Protocol):
    """What the keeper does to a namespace's registry (Ray actors; an in-memory fake in tests)."""

    def owner_job(self) -> str | None:
        """The Ray job that created the current registry, ``None`` if there is none."""

    def create(self) -> None:
        """Create the registry from this driver (if there is none by then)."""

    def retire_if_idle(self) -> bool:
        """Retire the current registry if it holds no results (atomically); whether it did."""

    def holdings(self) -> dict[str, Any]:
        """What the current registry holds: ``results`` and ``runs`` counts."""

    def replace(self) -> None:
        """Kill the (retired) registry and create this driver's."""


@dataclass
class RayRegistries:
    """``Registries`` on the live Ray cluster this driver is connected to."""

    namespace: str
    ttl_seconds: float

    def owner_job(self) -> str | None:
        current = current_registry(self.namespace)
        return None if current is None else ray.get(current.job_id.remote())

    def create(self) -> None:
        get_or_create_registry(self.namespace, self.ttl_seconds)

    def retire_if_idle(self) -> bool:
        current = current_registry(self.namespace)
        return current is not None and ray.get(current.retire_if_idle.remote())

    def holdings(self) -> dict[str, Any]:
        current = current_registry(self.namespace)
        return {"results": 0, "runs": 0} if current is None else ray.get(current.stats.remote())

    def replace(self) -> None:
        kill_registry(self.namespace)  # retired: it holds nothing and accepts nothing
        get_or_create_registry(self.namespace, self.ttl_seconds)


class Keeper:
    """Makes sure the namespace's registry is one this driver created; see the module doc.

    :param namespace: the Ray namespace of the registry (as in the Airflow connection).
    :param ttl_seconds: the result TTL of a registry this keeper creates.
    :param registries: how to reach the registry; the live Ray cluster by default.
    :param job_id: this driver's Ray job; the connected driver's by default.
    """

    def __init__(
        self,
        namespace: str,
        ttl_seconds: float,
        *,
        registries: Registries | None = None,
        job_id: str | None = None,
    ) -> None:
        self.namespace = namespace
        self.ttl_seconds = ttl_seconds
        self.registries = registries or RayRegistries(namespace, ttl_seconds)
        self.job_id = job_id or ray.get_runtime_context().get_job_id()
        self._waiting_reported = False

    def tend(self) -> State:
        """One check; returns what the registry's state is now ("kept", "waiting").

        A busy registry of another job is reported once per wait, not at every check.
        """
        owner = self.registries.owner_job()
        if next_step(owner, self.job_id) == "create":
            self.registries.create()
            owner = self.registries.owner_job()
        step = next_step(owner, self.job_id)
        if step == "keep":
            return "kept"
        if step == "create" or not self.registries.retire_if_idle():
            # Busy (or gone again since it was created: the next check creates it).
            if not self._waiting_reported and step == "take_over":
                held = self.registries.holdings()
                log.warning(
                    "A result registry created by another Ray job holds %d result(s) of %d "
                    "run(s); taking over once they are released (runs ending, or the TTL).",
                    held["results"],
                    held["runs"],
                )
                self._waiting_reported = True
            return "waiting"
        self.registries.replace()
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
