"""RaySubmitJobOperator through the real scheduler, triggerer and api-server on the test Ray head.

Its jobs go through the head's Jobs API with the connection's token: the log shows while the
job runs (in place and deferred), the JSON result comes back from a file or the last line, a
failed job fails its task with its own error, and a timed-out task stops its job.
"""

from __future__ import annotations

import json

import psutil
import pytest

from devstack.processes import wait_until
from ray_provider.client.jobs import RayJobs
from ray_provider.client.settings import settings_from_connection
from tests.support.airflow_runs import gated_run, links, log_once_it_shows, ti_state

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def jobs(ray_head):
    """The Jobs API of the test head, as the operator reaches it (the test's own view)."""
    from types import SimpleNamespace

    conn = json.loads(ray_head.connection_json())
    conn = SimpleNamespace(**{"port": None, "extra_dejson": conn.pop("extra", {}), **conn})
    return RayJobs(settings_from_connection(conn, "ray_default"))


def job_id_of(airflow, dag_id, run_id, task_id):
    return airflow.xcom_raw(dag_id, run_id, task_id, key="ray_job_id")


def test_a_job_logs_while_it_runs_and_returns_its_json(airflow, ray_head, jobs, tmp_path):
    dag_id = "ray_job_runs"
    run_id, gate = gated_run(airflow, tmp_path, dag_id)
    try:
        log = log_once_it_shows(airflow, dag_id, run_id, "train_in_place", "in-place round 1")
        assert ti_state(airflow, dag_id, run_id, "train_in_place") == "running"
        assert "in-place round 2" not in log
        # Deferred: the triggerer copies the job's lines into the task log.
        wait_until(
            lambda: ti_state(airflow, dag_id, run_id, "train_deferred") == "deferred",
            180,
            "train_deferred to defer",
            interval=0.5,
        )
        log_once_it_shows(airflow, dag_id, run_id, "train_deferred", "deferred round 1")
        assert ti_state(airflow, dag_id, run_id, "train_deferred") == "deferred"
        link = links(airflow, dag_id, run_id, "train_in_place")["Ray job"]
        job_id = job_id_of(airflow, dag_id, run_id, "train_in_place")
        assert link == f"http://127.0.0.1:{ray_head.dashboard_port}/#/jobs/{job_id}"
    finally:
        gate.touch()
    state = airflow.wait_for_run(dag_id, run_id, 300)
    assert state == "success", airflow.failure_report(dag_id, run_id)
    report = airflow.xcom_raw(dag_id, run_id, "report")
    report = json.loads(report) if isinstance(report, str) else report
    assert report == {
        "in_place": {"rounds": 3, "label": "in-place", "cluster_cpus": 4.0},
        "deferred": {"rounds": 2, "label": "deferred", "cluster_cpus": 4.0},
    }
    log = airflow.task_log(dag_id, run_id, "train_in_place")
    assert log.count("in-place round 3 logloss=0.40") == 1
    # The result line is the job's answer, not a line of its log.
    assert "##ray-provider-job-result##" not in log
    # Ray keeps the Airflow ids with the job; it ran with the wrapper's environment.
    job_id = job_id_of(airflow, dag_id, run_id, "train_in_place")
    info = jobs.client.get_job_info(job_id)
    assert info.metadata["team"] == "search"
    assert info.metadata["airflow_run_id"] == run_id
    assert info.metadata["airflow_task_id"] == "train_in_place"
    assert info.entrypoint.endswith("'python train.py --rounds 3 --gate " + str(gate) + "'")


def test_a_failed_job_fails_its_task_with_its_own_error(airflow):
    dag_id = "ray_job_failure"
    run_id = airflow.trigger(dag_id, {})
    assert airflow.wait_for_run(dag_id, run_id, 300) == "failed"
    log = airflow.task_log(dag_id, run_id, "train_bad_rows")
    assert "RayJobFailedError" in log
    assert "ValueError: bad rows in part 3" in log
    assert "Last " in log and "line(s) of its log" in log
    assert "about to fail" in log


def test_a_timed_out_task_stops_its_job_in_place_and_deferred(airflow, jobs, tmp_path):
    dag_id = "ray_job_timeouts"
    run_id = airflow.trigger(dag_id, {"pid_dir": str(tmp_path)})
    assert airflow.wait_for_run(dag_id, run_id, 300) == "failed"
    for name in ("in_place", "deferred"):
        task_id = f"forever_{name}"
        assert ti_state(airflow, dag_id, run_id, task_id) == "failed"
        job_id = job_id_of(airflow, dag_id, run_id, task_id)
        wait_until(
            lambda job_id=job_id: jobs.status(job_id)[0] == "STOPPED",
            60,
            f"{job_id} to be stopped",
            interval=0.5,
        )
        pid_file = tmp_path / name
        if pid_file.exists():  # the job's driver had started: its process is gone too
            pid = int(pid_file.read_text())
            wait_until(lambda pid=pid: not psutil.pid_exists(pid), 60, "the driver to end")
        assert "Stopped Ray job" in airflow.task_log(dag_id, run_id, task_id)
