"""A DAG written for astro-provider-ray runs through the real scheduler, unchanged."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.airflow


def test_an_astro_provider_ray_dag_runs_and_returns_its_values(airflow):
    dag_id = "astro_style"
    run_id = airflow.trigger(dag_id, {})
    state = airflow.wait_for_run(dag_id, run_id, 420)
    assert state == "success", airflow.failure_report(dag_id, run_id)
    report = airflow.xcom_raw(dag_id, run_id, "report")
    report = json.loads(report) if isinstance(report, str) else report
    # Its issue #127: values never came back from @ray.task. Here they do, and the callable
    # config was built from the run's context.
    assert report["mean"] == pytest.approx(14 / 3)
    assert report["run_id"] == run_id
    assert report["job_id"] == airflow.xcom_raw(dag_id, run_id, "SubmitRayJob", key="ray_job_id")
    log = airflow.task_log(dag_id, run_id, "process_data_with_ray")
    assert "Mean of this population of squares is 4.666" in log
    job_log = airflow.task_log(dag_id, run_id, "SubmitRayJob")
    assert "[ray job] job round 2 logloss=0.50" in job_log
