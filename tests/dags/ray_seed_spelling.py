"""The 2021 spelling: ray_task from ray_decorators with a task_args dict, unchanged.

Its connection (``ray_seed``) carries the post's "Ray params such as num_cpu and num_gpu" as
defaults for every task; ``fit`` reports the CPUs Ray gave it.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from airflow.sdk import dag, task

from ray_provider.decorators.ray_decorators import ray_task

task_args = {
    "ray_conn_id": "ray_seed",
    "checkpoint": True,
    "checkpoint_source": "s3_checkpoints",
}


@dag(schedule=None, start_date=datetime(2021, 1, 1), catchup=False, tags=["test"])
def ray_seed_spelling():
    @ray_task(**task_args)
    def load_dataframe() -> pd.DataFrame:
        frame = pd.DataFrame({"label": [0, 1] * 50, "feature": range(100)})
        return frame

    @ray_task(**task_args)
    def create_data(frame: pd.DataFrame):
        train = frame.iloc[:80]
        validation = frame.iloc[80:]
        return train, validation

    @ray_task(**task_args)
    def fit(data) -> dict:
        import ray

        train, validation = data
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
        return {"train_rows": len(train), "validation_rows": len(validation), "cpus": cpus}

    @task
    def report(metrics: dict) -> dict:
        return metrics

    report(fit(create_data(load_dataframe())))


ray_seed_spelling()
