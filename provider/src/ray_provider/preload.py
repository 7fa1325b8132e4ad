"""Import what every ``@task.ray`` task process needs once, in the process that forks them.

Airflow's LocalExecutor (and a Celery worker) starts each task as a bare ``os.fork`` of a
long-lived process, and the task process then parses its DAG file. A DAG that uses this
provider imports pandas and Ray there: about 2.6 s of the ~4.5 s a task spent outside its
callable on 2 cores (measured in ``bench/overhead.py``). Imported once in the forking process,
they come to every task process for free.

One trap decides what may be preloaded: Ray draws its IDs (objects, actors, tasks) from a
generator in its C++ core that is seeded on first use, and a fork copies it. If the forking
process has drawn one ID, every forked task draws the same "random" IDs, and two tasks that
start together collide (seen as a crash in Ray's ``WarmupStore`` check; worse is possible).
``import ray`` draws none, but declaring a Ray actor class at import time does, and the
provider's own modules declare one. So the default is ``pandas`` and ``ray``, and any list is
first imported in a throwaway interpreter that forks twice and compares a Ray ID drawn in
each child: a list that fails is not preloaded, and the scheduler log says why.

Only processes that fork task processes preload (``airflow scheduler``, ``airflow celery
worker``); the API server, the DAG processor and the triggerer are left as they are. Set
``[ray_provider] preload_modules`` (``AIRFLOW__RAY_PROVIDER__PRELOAD_MODULES``) to a
comma-separated list of modules to change what is imported (add your DAGs' heavy helpers), or
to an empty string to turn it off. ``AIRFLOW__RAY__PRELOAD_MODULES``, its first spelling, is
still read.
"""

from __future__ import annotations

import importlib
import logging
import os
import subprocess
import sys
import time

from ray_provider.config_options import DEFAULT_PRELOAD_MODULES, PRELOAD_MODULES, SECTION

PRELOAD_ENV = f"AIRFLOW__{SECTION.upper()}__{PRELOAD_MODULES.upper()}"
# The first spelling, before the option moved into the provider's config section.
LEGACY_PRELOAD_ENV = "AIRFLOW__RAY__PRELOAD_MODULES"
DEFAULT_MODULES = DEFAULT_PRELOAD_MODULES
PROBE_TIMEOUT_SECONDS = 120.0

log = logging.getLogger(__name__)

# Run in a fresh interpreter: import the modules, then fork twice and compare one Ray ID
# drawn in each child. Prints "shared" when the children drew the same ID.
_PROBE = """
import importlib, os, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:
        pass
if "ray._raylet" not in sys.modules:
    print("independent")
    sys.exit(0)
ids = []
for _ in range(2):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        from ray._raylet import ObjectID
        os.write(write, ObjectID.from_random().binary())
        os._exit(0)
    os.close(write)
    ids.append(os.read(read, 64))
    os.close(read)
    os.waitpid(pid, 0)
print("shared" if ids[0] == ids[1] else "independent")
"""


def forks_task_processes(argv: list[str] | None = None) -> bool:
    """Whether this is an Airflow process that forks task processes (see the module doc)."""
    argv = sys.argv if argv is None else argv
    if len(argv) < 2 or "airflow" not in os.path.basename(argv[0]):
        return False
    return argv[1] == "scheduler" or argv[1:3] == ["celery", "worker"]


def modules_to_preload() -> list[str]:
    """``[ray_provider] preload_modules`` (airflow.cfg or its environment variable)."""
    raw = os.environ.get(LEGACY_PRELOAD_ENV) if PRELOAD_ENV not in os.environ else None
    if raw is None:
        from airflow.configuration import conf

        raw = conf.get(SECTION, PRELOAD_MODULES, fallback=None)
    if raw is None:
        return list(DEFAULT_MODULES)
    return [name.strip() for name in raw.split(",") if name.strip()]


def forked_children_share_ray_ids(modules: list[str]) -> bool:
    """Whether importing ``modules`` before a fork leaves the children drawing the same Ray IDs.

    Checked in a separate interpreter, so nothing is imported here. A probe that fails to run
    counts as "shared": the preload is an optimisation and is skipped when in doubt.
    """
    try:
        probe = subprocess.run(
            [sys.executable, "-c", _PROBE, *modules],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("ray provider: could not check the preload list %s: %s", modules, exc)
        return True
    return probe.stdout.strip().splitlines()[-1:] != ["independent"]


def preload(modules: list[str]) -> dict[str, float]:
    """Import ``modules``; returns seconds per module imported.

    A module that fails to import is logged and skipped: the task process will import it
    itself and fail there with its own error, in the task's log where it belongs.
    """
    timings: dict[str, float] = {}
    for name in modules:
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
    modules = modules_to_preload()
    if not modules:
        return
    if forked_children_share_ray_ids(modules):
        log.warning(
            "ray provider: not preloading %s: importing them before a fork makes the forked "
            "task processes draw the same Ray IDs (a module declares a Ray actor or draws an "
            "ID at import). Remove such modules from [%s] %s.",
            ", ".join(modules),
            SECTION,
            PRELOAD_MODULES,
        )
        return
    timings = preload(modules)
    if timings:
        log.info(
            "ray provider: imported %s for the task processes this process forks (%.1f s)",
            ", ".join(timings),
            sum(timings.values()),
        )
