"""Drive the result registry directly, as ``@task.ray`` does, for tests below the DAG level."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from ray import cloudpickle

from ray_provider.client.deployment import current
from ray_provider.client.reference import RayResultRef
from ray_provider.runtime.execute import RefSlot, TaskReport
from ray_provider.runtime.keys import new_generation, run_key


def run_key_of(dag_id: str, run_id: str) -> str:
    """The registry's key of a run, in this process's deployment."""
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
    """Submit ``function(*args)``; ``RefSlot(i)`` in args stands for ``upstream[i]``."""
    deployment = current()
    ref = RayResultRef(
        deployment=deployment.id,
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        map_index=-1,
        generation=new_generation(),
        namespace=hook.settings.namespace,
        ray_conn_id=hook.ray_conn_id,
    )
    report_ref = hook.submit(
        key=ref.key,
        run_key=ref.run_key,
        generation=ref.generation,
        payload=cloudpickle.dumps((function, args, {})),
        upstream=upstream or [],
        options={"num_cpus": 1, **options},
    )
    report = hook.wait(report_ref)
    hook.describe(ref.key, ref.generation, report.result_type, report.result_size)
    ref = replace(ref, result_type=report.result_type, size=report.result_size)
    return ref.signed(deployment.key), report


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
