"""Platform check and example: a deferrable training that logs as it goes, mapped shards, a job.

make_shards -> score_shard (mapped, one task per shard) -> train (deferrable) -> report, and
beside them ``summarize_job``, a Ray job (``RaySubmitJobOperator``) through the head's Jobs API.
``make_shards`` returns the shards as one list that stays in Ray; ``score_shard.expand()``
maps over it (Airflow learns the number of shards from one small reference per item, and each
mapped task reads only its shard from the object store). ``train`` waits in the triggerer
(``deferrable=True``: no worker slot held while Ray works) and prints one line per round,
which reaches the task log while it runs. ``report`` fails unless every shard was scored and
the job's JSON result (its last log line) names the cluster's CPUs.
`make e2e` runs it on the cluster (the ``operations`` check).
"""

from __future__ import annotations

import os

from airflow.sdk import Param, dag, task

from ray_provider.operators import RaySubmitJobOperator

RAY_CONN_ID = os.environ.get("HIGGS_RAY_CONN_ID", "ray_default")
# The job's driver: a few Ray tasks, one line per step, its answer as JSON on the last line.
JOB_PROGRAM = """
import json, ray
ray.init()
for step in range(1, 4):
    print(f"job step {step}", flush=True)
total = sum(ray.get([ray.remote(lambda x: x * x).remote(i) for i in range(10)]))
print(json.dumps({"total": total, "cpus": ray.cluster_resources().get("CPU", 0)}))
"""


@dag(
    dag_id="ray_operations_check",
    schedule=None,
    catchup=False,
    params={
        "shards": Param(8, type="integer", minimum=1, maximum=1000),
        "rows": Param(10_000, type="integer", minimum=1),
        "rounds": Param(5, type="integer", minimum=1),
    },
    tags=["platform-check", "example"],
    default_args={"retries": 0},
)
def ray_operations_check():
    @task.ray(ray_conn_id=RAY_CONN_ID)
    def make_shards(params=None):
        import numpy as np

        rng = np.random.default_rng(0)
        return [rng.normal(size=params["rows"]) for _ in range(params["shards"])]

    @task.ray(ray_conn_id=RAY_CONN_ID)
    def score_shard(shard):
        return float((shard**2).mean())

    @task.ray(ray_conn_id=RAY_CONN_ID, deferrable=True)
    def train(scores, params=None):
        import time

        loss = 1.0
        for round_ in range(1, params["rounds"] + 1):
            loss *= 0.8
            print(f"[{round_}] loss={loss:.4f} over {len(scores)} shards", flush=True)
            time.sleep(1)  # a stand-in for a round of real work
        return {"shards": len(scores), "loss": loss}

    summarize_job = RaySubmitJobOperator(
        task_id="summarize_job",
        ray_conn_id=RAY_CONN_ID,
        entrypoint=f"python -c '{JOB_PROGRAM}'",
        result="last_line",
        deferrable=True,
    )

    @task
    def report(result, job, params=None):
        if result["shards"] != params["shards"]:
            raise ValueError(f"{result['shards']} shards scored, expected {params['shards']}")
        if job["total"] != 285 or not job["cpus"]:
            raise ValueError(f"the Ray job answered {job!r}")
        print(f"trained on {result['shards']} shards, loss {result['loss']:.4f}; job: {job}")
        return result

    report(train(score_shard.expand(shard=make_shards())), summarize_job.output)


ray_operations_check()
