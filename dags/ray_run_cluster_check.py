"""make e2e's per-run cluster check: a DAG run on a RayCluster of its own, deleted at its end.

``ray_cluster`` makes the run's cluster from the chart's template (``perRunClusters.enabled``);
``squares`` and ``total`` run on it, the list passing between them in that cluster's object
store; ``report`` (a plain task) reads the total back through the XCom backend, from the run's
cluster; ``delete_ray_cluster`` is the teardown. With ``{"fail": true}`` the ``fail_if_asked``
task fails the run, and the teardown must still delete the cluster. Each Ray task prints the
pod it ran on, so the check can tell the run's cluster from the chart's.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, get_current_context, task

from ray_provider.operators import RayClusterSetupOperator, RayClusterTeardownOperator

N = 100


def _say_where(what: str) -> None:
    import socket

    print(f"{what} ran on pod {socket.gethostname()}")


@task.ray(num_cpus=1)
def squares(n: int) -> list[int]:
    _say_where("squares")
    return [x * x for x in range(n)]


@task.ray(num_cpus=1)
def total(values: list[int]) -> int:
    _say_where("total")
    return sum(values)


@task
def report(value: int, n: int) -> dict[str, int]:
    expected = sum(x * x for x in range(n))
    if value != expected:
        raise ValueError(f"total is {value}, expected {expected}")
    return {"total": value}


@task
def fail_if_asked() -> None:
    if get_current_context()["params"].get("fail"):
        raise RuntimeError("failing on purpose ({'fail': true}): the teardown must still run")


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"fail": False},
    tags=["e2e", "ray"],
)
def ray_run_cluster_check():
    cluster = RayClusterSetupOperator(
        task_id="ray_cluster", worker_replicas={"cpu": 1}, ready_timeout=600
    )
    delete = RayClusterTeardownOperator(task_id="delete_ray_cluster", cluster=cluster.output)
    with delete.as_teardown(setups=cluster):
        values = squares.override(ray_cluster=cluster.output)(N)
        summed = total.override(ray_cluster=cluster.output)(values)
        report(summed, N) >> fail_if_asked()


ray_run_cluster_check()
