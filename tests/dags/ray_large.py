"""A HIGGS-sized array (11M x 29 float32, 1.28 GB) from one @task.ray to the next."""

from __future__ import annotations

from airflow.sdk import dag, task

COLUMNS = 29


@dag(schedule=None, catchup=False, tags=["test"], render_template_as_native_obj=True)
def ray_large():
    @task.ray(num_cpus=1)
    def produce(rows: int):
        import numpy as np

        values = np.empty((rows, COLUMNS), dtype=np.float32)
        values[:] = np.arange(COLUMNS, dtype=np.float32)
        values[:, 0] = np.arange(rows, dtype=np.float32) % 2
        return values

    @task.ray(num_cpus=1)
    def consume(values):
        import os

        return {
            "shape": list(values.shape),
            "dtype": str(values.dtype),
            "labels": float(values[:, 0].sum()),
            "column_7": float(values[:, 7].sum(dtype="float64")),
            "pid": os.getpid(),
        }

    @task
    def report(summary):
        return summary

    report(consume(produce(rows="{{ dag_run.conf.get('rows', 11000000) }}")))


ray_large()
