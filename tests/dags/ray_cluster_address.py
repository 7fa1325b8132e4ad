"""``ray_cluster=`` given as a Ray address in the DAG (not a setup's handle).

The connection (``ray_default``) joins the head as a driver; ``ray_cluster`` sends both Ray
tasks to the same head through Ray Client instead (its address rendered from the
``ray_client`` connection), and a plain task reads the value back through the XCom backend,
from the cluster the reference names.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

ADDRESS = "{{ conn.ray_client.host }}"


@task.ray(ray_cluster=ADDRESS, num_cpus=0.1)
def numbers() -> list[int]:
    return list(range(10))


@task.ray(ray_cluster=ADDRESS, num_cpus=0.1)
def doubled(values: list[int]) -> list[int]:
    return [2 * v for v in values]


@task
def report(values: list[int]) -> int:
    return sum(values)


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["test"])
def ray_cluster_address():
    report(doubled(numbers()))


ray_cluster_address()
