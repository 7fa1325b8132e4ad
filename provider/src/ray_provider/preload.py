"""Import what every ``@task.ray`` task process needs once, in the process that forks them.

Airflow's LocalExecutor (and a Celery worker) starts each task as a bare ``os.fork`` of a
long-lived process, and the task process then parses its DAG file. A DAG that uses this
provider imports pandas, Ray and the provider's decorator there: about 3 s of the ~4.5 s a
task spends outside its callable on 2 cores (measured in ``bench/overhead.py``). Imported once
in the forking process, they come to every task process for free.

Only processes that fork task processes preload (``airflow scheduler``, ``airflow celery
worker``); the API server, the DAG processor and the triggerer are left as they are. Set
``AIRFLOW__RAY__PRELOAD_MODULES`` to a comma-separated list of modules to change what is
imported (add your DAGs' heavy helpers), or to an empty string to turn it off.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time

PRELOAD_ENV = "AIRFLOW__RAY__PRELOAD_MODULES"
DEFAULT_MODULES = ("pandas", "ray", "ray_provider.hooks.ray", "ray_provider.decorators.ray")

log = logging.getLogger(__name__)


def forks_task_processes(argv: list[str] | None = None) -> bool:
    """Whether this is an Airflow process that forks task processes (see the module doc)."""
    argv = sys.argv if argv is None else argv
    if len(argv) < 2 or "airflow" not in os.path.basename(argv[0]):
        return False
    return argv[1] == "scheduler" or argv[1:3] == ["celery", "worker"]


def modules_to_preload() -> list[str]:
    raw = os.environ.get(PRELOAD_ENV)
    if raw is None:
        return list(DEFAULT_MODULES)
    return [name.strip() for name in raw.split(",") if name.strip()]


def preload(modules: list[str] | None = None) -> dict[str, float]:
    """Import ``modules`` (default: :func:`modules_to_preload`); returns seconds per module.

    A module that fails to import is logged and skipped: the task process will import it
    itself and fail there with its own error, in the task's log where it belongs.
    """
    timings: dict[str, float] = {}
    for name in modules_to_preload() if modules is None else modules:
        started = time.perf_counter()
        try:
            importlib.import_module(name)
        except Exception as exc:  # never break the scheduler over an optimisation
            log.warning("ray provider: could not preload %s for task processes: %s", name, exc)
            continue
        timings[name] = time.perf_counter() - started
    return timings


def preload_if_forking_tasks() -> None:
    """Called when the provider's plugin loads: preload in the scheduler or Celery worker."""
    if not forks_task_processes():
        return
    timings = preload()
    if timings:
        log.info(
            "ray provider: imported %s for the task processes this process forks (%.1f s)",
            ", ".join(timings),
            sum(timings.values()),
        )
