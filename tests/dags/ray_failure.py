"""A Ray task that prints and then raises: the Airflow task fails with the remote error."""

from __future__ import annotations

from airflow.sdk import dag, task


class PipelineDataError(ValueError):
    """Defined in the DAG file, so it travels to Ray by value and back."""


@dag(schedule=None, catchup=False, tags=["test"], default_args={"retries": 0})
def ray_failure():
    @task.ray
    def produce():
        return list(range(10))

    @task.ray
    def explode(values):
        print(f"checking {len(values)} values before failing")
        raise PipelineDataError("row 7 has 3 columns, expected 29")

    explode(produce())


ray_failure()
