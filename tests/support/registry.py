"""Drive the result registry directly, as ``@task.ray`` does, for tests below the DAG level."""

from __future__ import annotations

import re
from typing import Any

from ray import cloudpickle

from ray_provider.reference import RayResultRef
from ray_provider.runtime.execute import RefSlot, TaskReport
from ray_provider.runtime.keys import result_key, run_key


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
    key = result_key(dag_id, run_id, task_id)
    report_ref = hook.submit(
        key=key,
        run_key=run_key(dag_id, run_id),
        payload=cloudpickle.dumps((function, args, {})),
        upstream=upstream or [],
        options={"num_cpus": 1, **options},
    )
    report = hook.wait(report_ref)
    hook.describe(key, report.result_type, report.result_size)
    ref = RayResultRef(
        key=key,
        namespace=hook.settings.namespace,
        ray_conn_id=hook.ray_conn_id,
        result_type=report.result_type,
        size=report.result_size,
    )
    return ref, report


def plasma_usage(address: str) -> tuple[int, int]:
    """(MiB used, objects) in the object store of the cluster at ``address`` (GCS)."""
    from ray._private.internal_api import memory_summary

    summary = memory_summary(address=address, stats_only=True)
    match = re.search(r"Plasma memory usage (\d+) MiB, (\d+) objects", summary)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


__all__ = ["RefSlot", "plasma_usage", "run_task"]
