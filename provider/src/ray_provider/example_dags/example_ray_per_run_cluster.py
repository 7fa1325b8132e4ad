"""A DAG run on a Ray cluster of its own, deleted when the run ends, failed or not.

``ray_cluster`` creates a KubeRay RayCluster from the chart's template (ray-platform chart with
``perRunClusters.enabled=true``) and waits until it is ready; ``make`` and ``total`` run on
it (``ray_cluster=cluster.output``), the result passing between them in that cluster's object
store; ``delete_ray_cluster`` is the run's teardown, so it runs even when a task fails. Needs
Airflow inside the Kubernetes cluster (or ``kube_config_path``) and the KubeRay operator.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from ray_provider.operators import RayClusterSetupOperator, RayClusterTeardownOperator


@task.ray(num_cpus=1)
def make(n: int) -> list[int]:
    return [x * x for x in range(n)]


@task.ray(num_cpus=1)
def total(squares: list[int]) -> int:
    return sum(squares)


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "ray"],
)
def example_ray_per_run_cluster():
    cluster = RayClusterSetupOperator(task_id="ray_cluster", worker_replicas={"cpu": 1})
    delete = RayClusterTeardownOperator(task_id="delete_ray_cluster", cluster=cluster.output)
    with delete.as_teardown(setups=cluster):
        squares = make.override(ray_cluster=cluster.output)(100)
        total.override(ray_cluster=cluster.output)(squares)


example_ray_per_run_cluster()
