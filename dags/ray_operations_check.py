"""Platform check and example: a deferrable training that logs as it goes, and mapped shards.

make_shards -> score_shard (mapped, one task per shard) -> train (deferrable) -> report.
``make_shards`` returns the shards as one list that stays in Ray; ``score_shard.expand()``
maps over it (Airflow learns the number of shards from one small reference per item, and each
mapped task reads only its shard from the object store). ``train`` waits in the triggerer
(``deferrable=True``: no worker slot held while Ray works) and prints one line per round,
which reaches the task log while it runs. ``report`` fails unless every shard was scored.
`make e2e` runs it on the cluster (the ``operations`` check).
"""

from __future__ import annotations

import os

from airflow.sdk import Param, dag, task

RAY_CONN_ID = os.environ.get("HIGGS_RAY_CONN_ID", "ray_default")


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

    @task
    def report(result, params=None):
        if result["shards"] != params["shards"]:
            raise ValueError(f"{result['shards']} shards scored, expected {params['shards']}")
        print(f"trained on {result['shards']} shards, loss {result['loss']:.4f}")
        return result

    report(train(score_shard.expand(shard=make_shards())))


ray_operations_check()
