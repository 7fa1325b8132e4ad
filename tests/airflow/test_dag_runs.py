"""DAG runs through the real scheduler, api-server and dag-processor (LocalExecutor, SQLite).

Every DAG is triggered once at the start (they run side by side), then each test waits for
its own run and checks values, logs, XCom contents and what is left in Ray.
"""

from __future__ import annotations

import json
from datetime import datetime

import psutil
import pytest

from devstack.processes import wait_until
from tests.support.registry import run_key_of

pytestmark = pytest.mark.airflow

DAG_CONF = {
    "ray_handoff": {"rows": 1000},
    "ray_client_handoff": {"rows": 500},
    "ray_large": {"rows": 11_000_000},
    "ray_modin": {},
    "ray_failure": {},
    "ray_errors": {},
    "ray_seed_spelling": {},
    "preload_probe": {},
}


@pytest.fixture(scope="module")
def runs(airflow):
    return {dag_id: airflow.trigger(dag_id, conf) for dag_id, conf in DAG_CONF.items()}


def finished(airflow, runs, dag_id, timeout=600):
    run_id = runs[dag_id]
    state = airflow.wait_for_run(dag_id, run_id, timeout)
    return run_id, state, airflow.task_instances(dag_id, run_id)


def xcom_value(airflow, dag_id, run_id, task_id):
    value = airflow.xcom_raw(dag_id, run_id, task_id)
    return json.loads(value) if isinstance(value, str) else value


def assert_released(hook, dag_id, run_id):
    prefix = run_key_of(dag_id, run_id) + "/"
    wait_until(
        lambda: not any(k.startswith(prefix) for k in hook.results().stats()["keys"]),
        120,
        f"the results of {dag_id}/{run_id} to be released",
    )


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.mark.parametrize("dag_id", ["ray_handoff", "ray_client_handoff"])
def test_handoff_through_the_scheduler(airflow, runs, hook, dag_id):
    run_id, state, tis = finished(airflow, runs, dag_id)
    assert state == "success", airflow.failure_report(dag_id, run_id)
    rows = DAG_CONF[dag_id]["rows"]

    # Each task ran in its own Airflow process; the producer's was gone before the consumer's.
    producer, consumer = tis["produce"], tis["combine"]
    assert producer["pid"] != consumer["pid"]
    assert _time(producer["end_date"]) <= _time(consumer["start_date"])
    assert not psutil.pid_exists(producer["pid"])

    # XCom holds only a small reference for the Ray tasks.
    for task_id in ("produce", "combine"):
        raw = airflow.xcom_raw(dag_id, run_id, task_id)
        assert len(json.dumps(raw)) < 1024
        assert "__ray_provider_result__" in json.dumps(raw)

    # The plain task received real values: the frames and the consumer's dict.
    report = xcom_value(airflow, dag_id, run_id, "report")
    expected_total = float(sum(range(rows * 3)))
    assert report["summary"]["rows"] == rows
    assert report["summary"]["total"] == expected_total
    assert report["summary"]["run_id"] == run_id
    assert report["parts_types"] == ["DataFrame", "DataFrame"]

    # The Ray worker's print reached the Airflow task log.
    log = airflow.task_log(dag_id, run_id, "produce")
    assert f"[ray stdout] producing {rows} rows on the Ray worker" in log
    assert_released(hook, dag_id, run_id)


def test_large_array_moves_between_task_processes(airflow, runs, hook):
    run_id, state, tis = finished(airflow, runs, "ray_large", timeout=900)
    assert state == "success", airflow.failure_report("ray_large", run_id)
    rows = DAG_CONF["ray_large"]["rows"]
    summary = xcom_value(airflow, "ray_large", run_id, "report")
    assert summary["shape"] == [rows, 29]
    assert summary["dtype"] == "float32"
    assert summary["labels"] == rows // 2
    assert summary["column_7"] == 7.0 * rows
    raw = airflow.xcom_raw("ray_large", run_id, "produce")
    assert len(json.dumps(raw)) < 1024
    assert f"{rows * 29 * 4:,} bytes" in airflow.task_log("ray_large", run_id, "consume")
    assert not psutil.pid_exists(tis["produce"]["pid"])
    assert_released(hook, "ray_large", run_id)


def test_modin_frame_survives_the_producing_worker(airflow, runs):
    run_id, state, _ = finished(airflow, runs, "ray_modin")
    assert state == "success", airflow.failure_report("ray_modin", run_id)
    summary = xcom_value(airflow, "ray_modin", run_id, "report")
    assert summary["is_modin"] is True
    assert summary["total"] == float(sum(range(300_000)))
    assert summary["killed_pid"] > 0
    # A plain task sees the same type as a Ray consumer.
    assert summary["plain_task_type"] == summary["type"] == "modin.pandas.dataframe.DataFrame"


def test_remote_failure_keeps_type_message_output_and_traceback(airflow, runs, hook):
    run_id, state, tis = finished(airflow, runs, "ray_failure")
    assert state == "failed"
    assert tis["explode"]["state"] == "failed"
    log = airflow.task_log("ray_failure", run_id, "explode")
    assert "[ray stdout] checking 10 values before failing" in log
    assert "PipelineDataError" in log
    assert "row 7 has 3 columns, expected 29" in log
    assert "Remote traceback (on the Ray worker)" in log
    # A failed run releases its results too.
    assert_released(hook, "ray_failure", run_id)


def test_error_cases_fail_with_the_fix_in_the_log(airflow, runs):
    run_id, state, tis = finished(airflow, runs, "ray_errors")
    assert state == "failed"
    assert {tis["unknown_connection"]["state"], tis["unserializable"]["state"]} == {"failed"}
    unknown = airflow.task_log("ray_errors", run_id, "unknown_connection")
    assert "RayConnectionNotFoundError" in unknown
    assert "AIRFLOW_CONN_NO_SUCH_RAY_CONNECTION" in unknown
    # No silent fallback to an unauthenticated local head: "local" only when asked for.
    assert "For a Ray head on this machine use" in unknown and "Connected to Ray" not in unknown
    unserializable = airflow.task_log("ray_errors", run_id, "unserializable")
    assert "UnserializableResultError" in unserializable
    assert "_thread.lock" in unserializable
    wrong_type = airflow.task_log("ray_errors", run_id, "wrong_connection_type")
    assert "RayConnectionConfigError" in wrong_type and "need a connection of type" in wrong_type
    too_big = airflow.task_log("ray_errors", run_id, "needs_what_no_node_has")
    assert "RayResourceError" in too_big and "tpu_v9 1" in too_big and "largest:" in too_big
    assert "Submitted" not in too_big


def test_expand_over_a_ray_result_that_is_no_list_names_the_fix(airflow, runs):
    run_id, _state, tis = finished(airflow, runs, "ray_errors")
    assert tis["twenty_items"]["state"] == "failed"
    log = airflow.task_log("ray_errors", run_id, "twenty_items")
    assert "RayArgumentError" in log and "each map(s) over the result" in log
    assert "returned builtins.int, not a list, tuple or dict" in log
    assert tis["each"]["state"] == "upstream_failed" and tis["each"]["map_index"] == -1


def test_a_forged_xcom_reference_is_refused(airflow, runs):
    run_id, _state, tis = finished(airflow, runs, "ray_errors")
    assert tis["consume"]["state"] == "failed"
    log = airflow.task_log("ray_errors", run_id, "consume")
    assert "RayReferenceError" in log and "does not carry this deployment's signature" in log


def test_seed_spelling_runs_unchanged(airflow, runs, s3):
    run_id, state, _ = finished(airflow, runs, "ray_seed_spelling")
    assert state == "success", airflow.failure_report("ray_seed_spelling", run_id)
    report = xcom_value(airflow, "ray_seed_spelling", run_id, "report")
    # The connection's num_cpu=2 (the 2021 spelling) reached Ray as the task's CPUs.
    assert report == {"train_rows": 80, "validation_rows": 20, "cpus": 2.0}
    # checkpoint=True with checkpoint_source=<conn id> wrote every task's result to S3.
    run_folder = f"checkpoints/{airflow.deployment_id}/ray_seed_spelling/{run_id}/"
    names = {o.object_name for o in s3.client().list_objects(s3.bucket, run_folder, recursive=True)}
    for task_id in ("load_dataframe", "create_data", "fit"):
        ref = xcom_value(airflow, "ray_seed_spelling", run_id, task_id)
        prefix = f"{run_folder}{task_id}/-1/{ref['generation']}/"
        assert prefix + "manifest.json" in names
        assert ref["checkpoint_uri"] == f"s3://{s3.bucket}/{prefix}"


def test_task_processes_start_with_pandas_and_ray_imported_by_the_scheduler(airflow, runs):
    run_id, state, _ = finished(airflow, runs, "preload_probe")
    assert state == "success", airflow.failure_report("preload_probe", run_id)
    # Parsed in a fresh interpreter these would be False: the DAG file imports neither.
    assert xcom_value(airflow, "preload_probe", run_id, "modules_at_parse") == {
        "pandas": True,
        "ray": True,
    }
    scheduler_log = (airflow.home / "scheduler.log").read_text()
    assert "imported pandas, ray for the task processes" in scheduler_log
