"""Checkpoint fault tests, each through real Airflow task runs.

(1) the Ray head is restarted between a checkpointed producer and its consumer, (2) the S3
store is down while the checkpoint is written, (3) the checkpoint is corrupted while Ray has
lost the value. The expected values come from the same deterministic generator the DAG uses.
"""

from __future__ import annotations

import io
import json

import pytest

from devstack.processes import wait_until
from ray_provider.client.reference import RayResultRef
from tests.dags.fault_data import checksum, make_value

pytestmark = pytest.mark.airflow
EXPECTED = checksum(make_value())


def wait_for_task(airflow, dag_id, run_id, task_id, states, timeout=300):
    def reached():
        state = airflow.task_instances(dag_id, run_id)[task_id]["state"]
        if state in ("failed", "upstream_failed") and state not in states:
            raise AssertionError(f"{task_id} ended {state}")
        return state in states

    wait_until(reached, timeout, f"{dag_id}.{task_id} to reach {states}", interval=1.0)


def report(airflow, dag_id, run_id):
    value = airflow.xcom_raw(dag_id, run_id, "report")
    return json.loads(value) if isinstance(value, str) else value


def test_ray_restart_between_producer_and_consumer(airflow, spare_ray_head, tmp_path):
    spare_ray_head.start()
    gate = tmp_path / "gate"
    run_id = airflow.trigger("ckpt_ray_restart", {"gate": str(gate)})
    wait_for_task(airflow, "ckpt_ray_restart", run_id, "produce", {"success"})
    produce_log = airflow.task_log("ckpt_ray_restart", run_id, "produce")
    assert (
        f"Checkpoint written to s3://ray-checkpoints/checkpoints/{airflow.deployment_id}/ckpt_ray_restart/"
        in produce_log
    )

    spare_ray_head.stop()  # every object in Ray is gone, the registry actor too
    spare_ray_head.start()
    gate.touch()

    state = airflow.wait_for_run("ckpt_ray_restart", run_id, 600)
    assert state == "success", airflow.failure_report("ckpt_ray_restart", run_id)
    result = report(airflow, "ckpt_ray_restart", run_id)
    assert result["checksum"] == result["plain_checksum"] == EXPECTED
    consume_log = airflow.task_log("ckpt_ray_restart", run_id, "consume")
    assert (
        f"restored produce from s3://ray-checkpoints/checkpoints/{airflow.deployment_id}/ckpt_ray_restart/"
        in consume_log
    )
    spare_ray_head.stop()


def test_node_lost_between_producer_and_consumer(airflow, spare_ray_head, tmp_path):
    """The registry still knows the result but Ray lost it with its node: restore, go on."""
    spare_ray_head.start()
    node = spare_ray_head.add_worker_node({"doomed": 1})
    gate = tmp_path / "gate"
    run_id = airflow.trigger("ckpt_node_lost", {"gate": str(gate)})
    wait_for_task(airflow, "ckpt_node_lost", run_id, "produce", {"success"})
    produce_log = airflow.task_log("ckpt_node_lost", run_id, "produce")
    assert (
        f"Checkpoint written to s3://ray-checkpoints/checkpoints/{airflow.deployment_id}/ckpt_node_lost/"
        in produce_log
    )

    spare_ray_head.kill_worker_node(node)  # the only copy of the value goes with it
    gate.touch()

    state = airflow.wait_for_run("ckpt_node_lost", run_id, 600)
    consume_log = airflow.task_log("ckpt_node_lost", run_id, "consume")
    assert state == "success", consume_log
    assert report(airflow, "ckpt_node_lost", run_id)["checksum"] == EXPECTED
    assert "Ray lost the result of produce; restoring it" in consume_log
    assert (
        f"restored produce from s3://ray-checkpoints/checkpoints/{airflow.deployment_id}/ckpt_node_lost/"
        in consume_log
    )
    spare_ray_head.stop()


def test_store_down_during_checkpoint_then_retry_succeeds(airflow, flaky_s3):
    run_id = airflow.trigger("ckpt_s3_down")
    wait_for_task(airflow, "ckpt_s3_down", run_id, "produce", {"up_for_retry"})
    first_try = airflow.task_log("ckpt_s3_down", run_id, "produce", try_number=1)
    assert "CheckpointWriteError" in first_try
    assert flaky_s3.endpoint_url in first_try
    assert "3 attempts" in first_try
    assert "The result is still in Ray" in first_try

    flaky_s3.start()
    state = airflow.wait_for_run("ckpt_s3_down", run_id, 600)
    assert state == "success", airflow.failure_report("ckpt_s3_down", run_id)
    second_try = airflow.task_log("ckpt_s3_down", run_id, "produce", try_number=2)
    assert "Reusing the result computed by an earlier try" in second_try
    assert "Checkpoint written to s3://ray-checkpoints/" in second_try
    assert report(airflow, "ckpt_s3_down", run_id)["checksum"] == EXPECTED


def test_corrupt_checkpoint_is_a_clear_failure(airflow, hook, s3, tmp_path):
    gate = tmp_path / "gate"
    run_id = airflow.trigger("ckpt_corrupt", {"gate": str(gate)})
    wait_for_task(airflow, "ckpt_corrupt", run_id, "produce", {"success"})

    raw = airflow.xcom_raw("ckpt_corrupt", run_id, "produce")
    ref = RayResultRef.from_xcom(json.loads(raw) if isinstance(raw, str) else raw)
    assert hook.results().discard(ref)  # Ray lost the value...
    prefix = ref.checkpoint_uri.removeprefix(f"s3://{s3.bucket}/")
    client = s3.client()
    part = sorted(
        o.object_name for o in client.list_objects(s3.bucket, prefix) if "part-" in o.object_name
    )[0]
    client.put_object(s3.bucket, part, io.BytesIO(b"\0" * 4096), 4096)  # ...and S3 is damaged
    gate.touch()

    state = airflow.wait_for_run("ckpt_corrupt", run_id, 600)
    assert state == "failed"
    tis = airflow.task_instances("ckpt_corrupt", run_id)
    assert tis["consume"]["state"] == "failed"
    log = airflow.task_log("ckpt_corrupt", run_id, "consume")
    assert "CheckpointRestoreError" in log
    assert "is corrupt" in log and part.rsplit("/", 1)[-1] in log
    assert "clear the producing task" in log
