"""A @task.ray whose ray_cluster is an address written in the DAG, through the scheduler."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.airflow


def test_ray_tasks_go_to_the_address_and_their_references_name_it(airflow, ray_head):
    dag_id = "ray_cluster_address"
    run_id, state = airflow.run_and_wait(dag_id, timeout=300)
    assert state == "success", airflow.failure_report(dag_id, run_id)
    assert airflow.xcom_raw(dag_id, run_id, "report") in (90, "90")
    # The reference records the cluster it came from: Ray Client's address, not the
    # connection's driver address, so the XCom backend read it from there.
    reference = airflow.xcom_raw(dag_id, run_id, "doubled")
    reference = json.loads(reference) if isinstance(reference, str) else reference
    assert ray_head.client_address in json.dumps(reference)
    assert ray_head.address != ray_head.client_address
