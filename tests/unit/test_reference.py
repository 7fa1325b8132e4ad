"""The XCom reference stays small and round-trips; other XCom values are left alone."""

from __future__ import annotations

import json

from ray_provider.reference import RayResultRef
from ray_provider.runtime.keys import result_key, run_key


def test_reference_round_trip_and_size():
    key = result_key("higgs_xgboost", "manual__2026-11-25T16:00:00+00:00", "train", -1)
    ref = RayResultRef(
        key=key,
        namespace="airflow",
        ray_conn_id="ray_default",
        result_type="pandas.core.frame.DataFrame",
        size=1_276_000_000,
        checkpoint_uri="s3://checkpoints/higgs_xgboost/run/train/-1/",
    )
    stored = json.dumps(ref.to_xcom())
    assert len(stored) < 1024
    assert RayResultRef.from_xcom(json.loads(stored)) == ref
    assert ref.task_id == "train"
    assert ref.run_key == run_key("higgs_xgboost", "manual__2026-11-25T16:00:00+00:00")


def test_other_values_are_not_references():
    for value in (None, 3, "text", [1, 2], {"key": "value"}):
        assert RayResultRef.from_xcom(value) is None
