"""The HIGGS pipeline end to end through the real scheduler, on small runs.

The main run reads a gzipped CSV of synthetic HIGGS rows from the test's S3 server (the
``s3://`` source, credentials from the Airflow connection) and lets ``trainer="auto"`` pick
one node's plain XGBoost; two more runs train with the distributed trainers by name
(xgboost-ray, as the 2021 DAG did, and Ray Train's XGBoostTrainer).
"""

from __future__ import annotations

import gzip
import json
import re

import pytest
from higgs.synthetic import synthetic_higgs

pytestmark = pytest.mark.airflow

CONF = {"rows": 50_000, "rounds": 20, "num_actors": 2, "cpus_per_actor": 1}


@pytest.fixture(scope="module")
def s3_source(s3, tmp_path_factory) -> str:
    """50,000 learnable synthetic rows as HIGGS.csv.gz in the test's S3 server."""
    path = tmp_path_factory.mktemp("higgs") / "HIGGS-50k.csv.gz"
    with gzip.open(path, "wt") as out:
        out.write(synthetic_higgs(50_000, seed=7).to_csv(header=False, index=False))
    s3.client().fput_object(s3.bucket, "datasets/HIGGS-50k.csv.gz", str(path))
    return f"s3://{s3.bucket}/datasets/HIGGS-50k.csv.gz"


def test_higgs_pipeline_trains_a_useful_model(airflow, s3, s3_source):
    conf = {**CONF, "source": s3_source}
    run_id, state = airflow.run_and_wait("higgs_xgboost", conf, timeout=900)
    tis = airflow.task_instances("higgs_xgboost", run_id)
    assert state == "success", airflow.failure_report("higgs_xgboost", run_id)

    raw = airflow.xcom_raw("higgs_xgboost", run_id, "report")
    metrics = json.loads(raw) if isinstance(raw, str) else raw
    assert metrics["auc"] > 0.7, metrics
    assert 0 < metrics["logloss"] < 0.69 and metrics["accuracy"] > 0.6
    assert metrics["test_rows"] == 5_000 and metrics["rounds"] == 20

    # The model and its metrics are in the store, next to the checkpoint of the training,
    # under this deployment's folder; the training's checkpoint under its try's own folder.
    run_folder = f"checkpoints/{airflow.deployment_id}/higgs_xgboost/{run_id}/"
    names = {o.object_name for o in s3.client().list_objects(s3.bucket, run_folder, recursive=True)}
    assert run_folder + "artifacts/model.ubj" in names
    assert run_folder + "artifacts/metrics.json" in names
    manifests = [
        n for n in names if n.startswith(run_folder + "train_model/-1/") and n.endswith(".json")
    ]
    assert len(manifests) == 1 and manifests[0].endswith("/manifest.json"), names
    stored = json.loads(
        s3.client().get_object(s3.bucket, run_folder + "artifacts/metrics.json").read()
    )
    assert stored == metrics

    report_log = airflow.task_log("higgs_xgboost", run_id, "report")
    assert "HIGGS test-set metrics" in report_log
    load_log = airflow.task_log("higgs_xgboost", run_id, "load_dataframe")
    assert f"loaded 50,000 rows x 29 columns from {s3_source}" in load_log
    # trainer="auto" (the default): 45,000 rows fit one node of the test's 4-CPU head.
    assert metrics["trainer"] == "xgboost"
    train_log = airflow.task_log("higgs_xgboost", run_id, "train_model")
    assert re.search(
        r"trainer: xgboost \(the training data \([0-9.]+ MiB\) fits one node", train_log
    )
    assert "plain XGBoost on all 4 CPUs of a node" in train_log
    assert "trained 20 rounds with xgboost" in train_log

    # The source's keys reached Ray as task arguments; Airflow shows them masked.
    rendered = json.dumps(tis["load_dataframe"]["rendered_fields"])
    assert s3.endpoint_url in rendered
    assert s3.secret_key not in rendered and s3.secret_key not in load_log


@pytest.mark.parametrize("trainer", ["xgboost_ray", "ray_train"])
def test_higgs_pipeline_with_a_distributed_trainer(airflow, trainer):
    conf = {**CONF, "source": "synthetic", "rows": 20_000, "rounds": 5, "trainer": trainer}
    run_id, state = airflow.run_and_wait("higgs_xgboost", conf, timeout=900)
    assert state == "success", airflow.failure_report("higgs_xgboost", run_id)
    metrics = airflow.xcom_raw("higgs_xgboost", run_id, "report")
    metrics = json.loads(metrics) if isinstance(metrics, str) else metrics
    assert metrics["trainer"] == trainer and metrics["rounds"] == 5
    assert metrics["auc"] > 0.7, metrics
    train_log = airflow.task_log("higgs_xgboost", run_id, "train_model")
    assert f"trainer: {trainer} (trainer={trainer!r} was asked for)" in train_log
    assert f"trained 5 rounds with {trainer}" in train_log
