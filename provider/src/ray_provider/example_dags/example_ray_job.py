"""``RaySubmitJobOperator``: a command runs as a Ray job; its log shows live, its JSON returns.

``train`` submits a small Python program as the driver of a Ray job on the ``ray_default``
connection's cluster. Its lines appear in the task log while it runs; it writes its metrics as
JSON to ``$RAY_JOB_RESULT_FILE`` (``result="file"``), which becomes the task's return value,
and ``report`` (a plain task) reads them from XCom. With ``deferrable=True`` the wait happens
in the triggerer; a real program would come with ``runtime_env={"working_dir": ...}``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from ray_provider.operators import RaySubmitJobOperator

PROGRAM = """
import json, os, ray

ray.init()


@ray.remote
def square(x):
    return x * x


squares = ray.get([square.remote(x) for x in range(10)])
print("squares:", squares, flush=True)
with open(os.environ["RAY_JOB_RESULT_FILE"], "w") as out:
    json.dump({"total": sum(squares)}, out)
"""


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "ray"],
)
def example_ray_job():
    train = RaySubmitJobOperator(
        task_id="train",
        entrypoint=f"python -c '{PROGRAM}'",
        entrypoint_num_cpus=1,
        result="file",
        deferrable=True,
    )

    @task
    def report(metrics: dict) -> None:
        print(f"total: {metrics['total']}")

    report(train.output)


example_ray_job()
