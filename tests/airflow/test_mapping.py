"""``.expand()`` over @task.ray results, through the real scheduler (DAG ``ray_mapping``).

What must hold: Airflow learns the number of items without the data (XCom holds one small
reference per item), each mapped @task.ray reads only its item from the object store, mapping
over a mapped @task.ray's output passes references again, and plain tasks still get values.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.airflow

DAG_ID = "ray_mapping"
ITEMS, ROWS = 20, 10_000


@pytest.fixture(scope="module")
def mapped_run(airflow):
    run_id = airflow.trigger(DAG_ID, {})
    return run_id, airflow.wait_for_run(DAG_ID, run_id, 900)


def xcom(airflow, run_id, task_id, map_index=-1):
    path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
    value = airflow.api("GET", path, params={"deserialize": "false", "map_index": map_index})
    raw = value["value"]
    return json.loads(raw) if isinstance(raw, str) else raw


def mapped(airflow, run_id, task_id):
    path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/listMapped"
    return airflow.api("GET", path, params={"limit": 100})["task_instances"]


def test_the_mapped_run_succeeds_with_the_right_values(airflow, mapped_run):
    run_id, state = mapped_run
    assert state == "success", airflow.failure_report(DAG_ID, run_id)
    assert xcom(airflow, run_id, "total") == sum(2 * i * i * ROWS for i in range(ITEMS))
    ray_total = xcom(airflow, run_id, "ray_total")  # a reference: the value stays in Ray
    assert ray_total["result_type"] == "builtins.int" and ray_total["item"] is None
    log = airflow.task_log(DAG_ID, run_id, "ray_total")
    assert "Upstream results from Ray: double[0] (builtins.int" in log
    assert xcom(airflow, run_id, "labels") == ["alpha=10", "beta=20", "gamma=30"]
    assert [xcom(airflow, run_id, "plain_first", i) for i in (0, 5, 19)] == [0, 5, 19]


def test_xcom_holds_one_small_signed_reference_per_item(airflow, mapped_run):
    run_id, _ = mapped_run
    items = xcom(airflow, run_id, "make_items")
    assert isinstance(items, list) and [ref["item"] for ref in items] == list(range(ITEMS))
    assert all("__ray_provider_result__" in ref and ref["signature"] for ref in items)
    assert max(len(json.dumps(ref)) for ref in items) < 1024  # the 20 arrays stay in Ray
    scores = xcom(airflow, run_id, "make_scores")
    assert sorted(scores) == ["alpha", "beta", "gamma"] and scores["beta"]["item"] == "beta"
    for task_id in ("square_sum", "double"):
        tis = mapped(airflow, run_id, task_id)
        assert sorted(ti["map_index"] for ti in tis) == list(range(ITEMS))
        assert {ti["state"] for ti in tis} == {"success"}
        ref = xcom(airflow, run_id, task_id, 7)
        assert ref["map_index"] == 7 and ref["item"] is None and len(json.dumps(ref)) < 1024


def test_each_mapped_ray_task_reads_only_its_item_in_ray(airflow, mapped_run):
    run_id, _ = mapped_run
    log = airflow.task_log(DAG_ID, run_id, "square_sum", map_index=3)
    assert "Upstream results from Ray: make_items item 3" in log
    assert f"'name': 'ray_mapping.square_sum[3] ({run_id})'" in log  # as the dashboard shows it
    assert f"[ray stdout] item of {ROWS * 8} bytes, first value 3" in log
    double = airflow.task_log(DAG_ID, run_id, "double", map_index=3)
    assert "Upstream results from Ray: square_sum[3] (builtins.int" in double
