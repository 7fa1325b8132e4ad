"""A DAG written for astro-provider-ray (deprecated 2026-07), unchanged but for its names.

Its imports, its config dict and callable config, its @ray.task functions that call
``ray.init()`` as a job driver would, and its SubmitRayJob with every argument it offered.
The connection ``ray_conn`` is in that provider's form: the dashboard URL in the ``address``
extra. Unlike there, the functions' return values come back (its issue #127).
"""

from datetime import datetime
from pathlib import Path

from airflow.decorators import dag, task

from ray_provider.decorators import ray
from ray_provider.operators import SubmitRayJob

CONN_ID = "ray_conn"
FOLDER_PATH = Path(__file__).parent / "ray_jobs_files"
RAY_TASK_CONFIG = {
    "conn_id": CONN_ID,
    "runtime_env": {"env_vars": {"POPULATION": "squares"}},
    "num_cpus": 1,
    "num_gpus": 0,
    "memory": 0,
    "poll_interval": 5,
    "fetch_logs": True,
    "job_timeout_seconds": 600,
}


def config_from_context(context, **kwargs):
    config = dict(RAY_TASK_CONFIG)
    config["runtime_env"] = {"env_vars": {"RUN_ID": context["dag_run"].run_id}}
    return config


@dag(
    dag_id="astro_style",
    start_date=datetime(2023, 1, 1),
    schedule=None,
    catchup=False,
    tags=["ray", "example"],
)
def ray_taskflow_dag():
    @task
    def generate_data():
        return [1, 2, 3]

    @ray.task(config=RAY_TASK_CONFIG)
    def process_data_with_ray(data):
        import os

        import numpy as np
        import ray

        @ray.remote
        def square(x):
            return x**2

        ray.init()
        data = np.array(data)
        futures = [square.remote(x) for x in data]
        results = ray.get(futures)
        mean = np.mean(results)
        print(f"Mean of this population of {os.environ['POPULATION']} is {mean}")
        return mean

    @ray.task(config=config_from_context)
    def describe(mean):
        import os

        return {"mean": float(mean), "run_id": os.environ["RUN_ID"]}

    submit_ray_job = SubmitRayJob(
        task_id="SubmitRayJob",
        conn_id=CONN_ID,
        entrypoint="python train.py --rounds 2 --print-json",
        runtime_env={"working_dir": str(FOLDER_PATH)},
        num_cpus=1,
        num_gpus=0,
        memory=0,
        resources={},
        fetch_logs=True,
        wait_for_completion=True,
        job_timeout_seconds=600,
        poll_interval=5,
    )

    @task
    def report(description, job_id):
        return {**description, "job_id": job_id}

    data = generate_data()
    report(describe(process_data_with_ray(data)), submit_ray_job.output)


ray_example_dag = ray_taskflow_dag()
