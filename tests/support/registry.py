"""Drive the result registry directly, as ``@task.ray`` does, for tests below the DAG level."""

from __future__ import annotations

import re
from typing import Any

from ray import cloudpickle

from ray_provider.client.deployment import current
from ray_provider.client.reference import RayResultRef
from ray_provider.runtime.execute import RefSlot, TaskReport
from ray_provider.runtime.keys import run_key


def run_key_of(dag_id: str, run_id: str) -> str:
    """The registry's key of a run, in this process's deployment (as the registry lists it)."""
    return run_key(current().id, dag_id, run_id)


def run_task(
    hook,
    dag_id: str,
    run_id: str,
    task_id: str,
    function,
    *args: Any,
    upstream: list[RayResultRef] | None = None,
    **options: Any,
) -> tuple[RayResultRef, TaskReport]:
    """Run ``function(*args)`` as ``@task.ray`` would; ``RefSlot(i)`` stands for ``upstream[i]``.

    Returns the signed reference and the worker's report (a failed run's result is discarded).
    """
    results = hook.results()
    run = results.run(
        results.new_result(dag_id, run_id, task_id),
        cloudpickle.dumps((function, args, {})),
        upstream=upstream,
        options={"num_cpus": 1, **options},
    )
    return results.reference(run.ref), run.report


def wait_for_file(path: str, timeout: float = 300) -> str:
    """A Ray callable that holds its worker until ``path`` exists (a gate the test opens)."""
    from pathlib import Path

    from devstack.processes import wait_until

    wait_until(Path(path).exists, timeout, f"the gate file {path}", interval=0.05)
    return "released"


def plasma_usage(address: str) -> tuple[int, int]:
    """(MiB used, objects) in the object store of the cluster at ``address`` (GCS)."""
    from ray._private.internal_api import memory_summary

    summary = memory_summary(address=address, stats_only=True)
    match = re.search(r"Plasma memory usage (\d+) MiB, (\d+) objects", summary)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


__all__ = ["RefSlot", "plasma_usage", "run_key_of", "run_task", "wait_for_file"]
