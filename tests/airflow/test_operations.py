"""Day-to-day operation through the real scheduler, triggerer and api-server.

Live logs and the dashboard link are looked at while the Ray task runs, the deferred task
while it is deferred: each callable holds its worker until the test opens a gate file, and
the test opens it only after it saw what it waits for (no sleep decides anything).
"""

from __future__ import annotations

import psutil
import pytest

from devstack.processes import wait_until
from tests.support.airflow_runs import gated_run, links, log_once_it_shows, ti_state

pytestmark = pytest.mark.airflow


def test_output_and_the_dashboard_link_show_while_the_task_runs(airflow, ray_head, tmp_path):
    dag_id = "ray_live_log"
    run_id, gate = gated_run(airflow, tmp_path, dag_id)
    try:
        log = log_once_it_shows(airflow, dag_id, run_id, "train", "train-logloss:0.400")
        assert ti_state(airflow, dag_id, run_id, "train") == "running"
        rounds = [line for line in log.splitlines() if "train-logloss" in line]
        assert [r.split("] train")[0][-2:] for r in rounds] == ["[1", "[2", "[3"]
        assert "[ray stderr] still warming up" in log
        assert "round 4 after the gate" not in log
        link = links(airflow, dag_id, run_id, "train")["Ray dashboard"]
        # The connection's dashboard_url (the head's dashboard port), then the task's page.
        dashboard = f"http://127.0.0.1:{ray_head.dashboard_port}"
        assert link.startswith(f"{dashboard}/#/jobs/") and "/tasks/" in link
        assert f"Ray dashboard of this task: {link}" in log
        # In the dashboard the Ray task carries the DAG, the task and the run.
        assert f"'name': 'ray_live_log.train ({run_id})'" in log
    finally:
        gate.touch()
    state = airflow.wait_for_run(dag_id, run_id, 180)
    assert state == "success", airflow.failure_report(dag_id, run_id)
    log = airflow.task_log(dag_id, run_id, "train")
    assert log.count("round 4 after the gate") == 1 and log.count("train-logloss:0.400") == 1


def test_a_deferred_task_holds_no_worker_and_resumes_for_its_result(airflow, tmp_path):
    dag_id = "ray_deferred"
    run_id, gate = gated_run(airflow, tmp_path, dag_id)
    try:
        wait_until(
            lambda: ti_state(airflow, dag_id, run_id, "train") == "deferred",
            180,
            "the task to defer",
            interval=0.5,
        )
        # The trigger copies the output into the task log while the task is deferred.
        log = log_once_it_shows(airflow, dag_id, run_id, "train", "deferred round 1")
        assert ti_state(airflow, dag_id, run_id, "train") == "deferred"
        assert "waiting in the triggerer" in log
    finally:
        gate.touch()
    state = airflow.wait_for_run(dag_id, run_id, 180)
    assert state == "success", airflow.failure_report(dag_id, run_id)
    assert airflow.xcom_raw(dag_id, run_id, "report") in (2, "2")
    log = airflow.task_log(dag_id, run_id, "train")
    assert log.count("deferred round 1") == 1 and log.count("deferred round 2") == 1
    assert "Ray task finished" in log
    assert links(airflow, dag_id, run_id, "train")["Ray dashboard"]


def test_execution_timeout_of_a_deferred_task_cancels_its_ray_task(airflow, tmp_path):
    dag_id = "ray_deferred_timeout"
    pid_file = tmp_path / "pid"
    run_id, gate = gated_run(airflow, tmp_path, dag_id, pid_file=str(pid_file))
    try:
        wait_until(pid_file.exists, 180, "the Ray task to start", interval=0.2)
        pid = int(pid_file.read_text())
        assert airflow.wait_for_run(dag_id, run_id, 240) == "failed"
        assert ti_state(airflow, dag_id, run_id, "train_forever") == "failed"

        # A forced cancel ends the worker process that ran the callable.
        wait_until(lambda: not psutil.pid_exists(pid), 60, "the Ray worker to end", interval=0.5)
        log = airflow.task_log(dag_id, run_id, "train_forever")
        assert "Cancelled the Ray task of train_forever" in log
        assert "training that never ends" in log
    finally:
        gate.touch()
