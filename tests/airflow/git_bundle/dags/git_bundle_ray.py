"""The DAG of the Git bundle test: committed to a local repository, read by a GitDagBundle.

The @task.ray callable is defined here and calls the bundle's helper package; neither this file
nor the helpers are importable on the Ray workers, so both must travel by value.
"""

from __future__ import annotations

from airflow.sdk import dag, task
from git_bundle_helpers.scoring import score


@dag(dag_id="git_bundle_ray", schedule=None, catchup=False, tags=["test"])
def git_bundle_ray():
    @task.ray(num_cpus=1)
    def compute(factor: int = 2) -> dict[str, object]:
        import os

        print(f"scoring on the Ray worker, pid {os.getpid()}")
        return {**score(factor), "ray_pid": os.getpid()}

    @task
    def report(result: dict[str, object]) -> dict[str, object]:
        return result

    report(compute())


git_bundle_ray()
