"""``dags/checkpoint_restore_check.py``, the DAG `make e2e` deletes the Ray head under.

Here through the real scheduler on the test Ray head: the round trip without a hold, and the
hold that keeps the run between producer and consumer until the release Variable names it (the
restore after a lost Ray object is covered by tests/airflow/test_checkpoint_faults.py here and
by `make e2e` on the kind cluster).
"""

from __future__ import annotations

import json
import re

import pytest

from devstack.processes import wait_until

pytestmark = pytest.mark.airflow

DAG_ID = "checkpoint_restore_check"
RELEASE = "checkpoint_restore_check_release"


def report(airflow, run_id: str) -> dict:
    raw = airflow.xcom_raw(DAG_ID, run_id, "report")
    return json.loads(raw) if isinstance(raw, str) else raw


def test_the_round_trip_without_a_hold(airflow):
    run_id, state = airflow.run_and_wait(DAG_ID, {"rows": 5000}, timeout=300)
    assert state == "success", airflow.failure_report(DAG_ID, run_id)
    seen = report(airflow, run_id)
    assert seen["rows"] == 5000 and re.fullmatch(r"[0-9a-f]{64}", seen["sha256"])
    assert "not held" in airflow.task_log(DAG_ID, run_id, "consume")


def test_a_held_run_waits_for_its_own_release(airflow):
    run_id = airflow.trigger(DAG_ID, {"rows": 5000, "hold": True, "hold_timeout": 600})

    def holding() -> bool:
        tis = airflow.task_instances(DAG_ID, run_id)
        if tis.get("hold", {}).get("state") in ("failed", "upstream_failed"):
            raise AssertionError(f"the hold failed: {tis}")
        return tis.get("produce", {}).get("state") == "success" and (
            tis.get("hold", {}).get("state") == "running"
        )

    wait_until(holding, 300, "the run to reach its hold")
    # A release that names another run does not let this one go.
    airflow.api("POST", "/variables", json={"key": RELEASE, "value": "some_other_run"})
    wait_until(
        lambda: "'some_other_run': not this run" in airflow.task_log(DAG_ID, run_id, "hold"),
        60,
        "the hold to see the other run's release",
    )
    assert airflow.task_instances(DAG_ID, run_id)["hold"]["state"] == "running"
    airflow.api("PATCH", f"/variables/{RELEASE}", json={"key": RELEASE, "value": run_id})
    state = airflow.wait_for_run(DAG_ID, run_id, timeout=300)
    assert state == "success", airflow.failure_report(DAG_ID, run_id)
    assert "released" in airflow.task_log(DAG_ID, run_id, "consume")
    assert report(airflow, run_id)["rows"] == 5000
