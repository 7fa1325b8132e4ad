"""Checkpointed producers whose results the tests take away (Ray restart, corruption, S3 down)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from airflow.sdk import dag, task
from fault_data import checksum, make_value


@task
def wait_for_gate(path: str, timeout: float = 900.0) -> str:
    """Hold the run until the test has done its damage (it creates ``path``)."""
    deadline = time.monotonic() + timeout
    while not Path(path).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {path} never opened")
        time.sleep(0.5)
    return path


def build(
    dag_id: str,
    ray_conn_id: str,
    aws_conn_id: str,
    gated: bool,
    producer_resources: dict[str, float] | None = None,
):
    @dag(
        dag_id=dag_id,
        schedule=None,
        catchup=False,
        tags=["test"],
        default_args={"retries": 0 if gated else 1, "retry_delay": timedelta(seconds=20)},
    )
    def faults():
        @task.ray(
            ray_conn_id=ray_conn_id,
            checkpoint=True,
            checkpoint_conn_id=aws_conn_id,
            resources=producer_resources,
        )
        def produce():
            value = make_value()
            print(f"produced checksum {checksum(value)}")
            return value

        @task.ray(ray_conn_id=ray_conn_id)
        def consume(value, gate=None):
            return {"checksum": checksum(value), "rows": len(value[0])}

        @task
        def report(summary, value):
            return {**summary, "plain_checksum": checksum(value)}

        value = produce()
        if gated:
            gate = wait_for_gate("{{ dag_run.conf['gate'] }}")
            value >> gate
            summary = consume(value, gate)
        else:
            summary = consume(value)
        report(summary, value)

    return faults()


build("ckpt_ray_restart", "ray_spare", "s3_checkpoints", gated=True)
# The producer runs on a worker node that the test then kills (node loss).
build("ckpt_node_lost", "ray_spare", "s3_checkpoints", gated=True, producer_resources={"doomed": 1})
build("ckpt_corrupt", "ray_default", "s3_checkpoints", gated=True)
build("ckpt_s3_down", "ray_default", "s3_flaky", gated=False)
