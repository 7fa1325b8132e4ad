"""The HIGGS pipeline end to end through the real scheduler, on a small synthetic run."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.airflow

CONF = {"source": "synthetic", "rows": 50_000, "rounds": 20, "num_actors": 2, "cpus_per_actor": 1}


def test_higgs_pipeline_trains_a_useful_model(airflow, s3):
    run_id, state = airflow.run_and_wait("higgs_xgboost", CONF, timeout=900)
    tis = airflow.task_instances("higgs_xgboost", run_id)
    assert state == "success", {t: ti["state"] for t, ti in tis.items()}

    raw = airflow.xcom_raw("higgs_xgboost", run_id, "report")
    metrics = json.loads(raw) if isinstance(raw, str) else raw
    assert metrics["auc"] > 0.7, metrics
    assert 0 < metrics["logloss"] < 0.69 and metrics["accuracy"] > 0.6
    assert metrics["test_rows"] == 5_000 and metrics["rounds"] == 20

    # The model and its metrics are in the store, next to the checkpoint of the training.
    names = {
        o.object_name
        for o in s3.client().list_objects(
            s3.bucket, f"checkpoints/higgs_xgboost/{run_id}/", recursive=True
        )
    }
    assert f"checkpoints/higgs_xgboost/{run_id}/model/-1/model.ubj" in names
    assert f"checkpoints/higgs_xgboost/{run_id}/model/-1/metrics.json" in names
    assert f"checkpoints/higgs_xgboost/{run_id}/train_model/-1/manifest.json" in names
    stored = json.loads(
        s3.client()
        .get_object(s3.bucket, f"checkpoints/higgs_xgboost/{run_id}/model/-1/metrics.json")
        .read()
    )
    assert stored == metrics

    report_log = airflow.task_log("higgs_xgboost", run_id, "report")
    assert "HIGGS test-set metrics" in report_log
    load_log = airflow.task_log("higgs_xgboost", run_id, "load_dataframe")
    assert "loaded 50,000 rows x 29 columns from synthetic" in load_log
