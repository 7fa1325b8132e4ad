"""The XCom reference: small, round-trips, and is refused when edited or out of its run."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from ray_provider.client.reference import MARKER, RayResultRef
from ray_provider.exceptions import RayReferenceError
from ray_provider.runtime.keys import run_key
from ray_provider.runtime.signing import key_id

KEY = b"k" * 48
DEPLOYMENT = key_id(KEY)
RUN = "scheduled__2026-11-25T16:00:00+00:00"
SCOPE = f"s3://ray-checkpoints/checkpoints/{DEPLOYMENT}/higgs_xgboost/{RUN}/"


def make_ref(**changes) -> RayResultRef:
    ref = RayResultRef(
        deployment=DEPLOYMENT,
        dag_id="higgs_xgboost",
        run_id=RUN,
        task_id="train",
        map_index=-1,
        generation="0123456789abcdef0123456789abcdef",
        namespace="airflow",
        ray_conn_id="ray_default",
        result_type="pandas.core.frame.DataFrame",
        size=1_276_000_000,
        checkpoint_uri=SCOPE + "train/-1/0123456789abcdef0123456789abcdef/",
        checkpoint_conn_id="s3_checkpoints",
        manifest_digest="ab" * 32,
    )
    return replace(ref, **changes).signed(KEY)


def check(ref: RayResultRef, **overrides) -> None:
    arguments = {
        "key": KEY,
        "deployment": DEPLOYMENT,
        "dag_id": "higgs_xgboost",
        "run_id": RUN,
        "checkpoint_scope": SCOPE,
        **overrides,
    }
    ref.check(**arguments)


def test_reference_round_trip_and_size():
    ref = make_ref()
    stored = json.dumps(ref.to_xcom())
    assert len(stored) < 1024
    assert RayResultRef.from_xcom(json.loads(stored)) == ref
    assert ref.key == f"{DEPLOYMENT}/higgs_xgboost/{RUN}/train/-1"
    assert ref.run_key == run_key(DEPLOYMENT, "higgs_xgboost", RUN)
    check(ref)  # a genuine reference passes every check


def test_other_values_are_not_references():
    for value in (None, 3, "text", [1, 2], {"key": "value"}):
        assert RayResultRef.from_xcom(value) is None


@pytest.mark.parametrize(
    "edit",
    [
        {"generation": "f" * 32},  # pointed at another try's value
        {"task_id": "other"},
        {"checkpoint_uri": SCOPE + "train/-1/elsewhere/"},
        {"size": 1},  # smaller, to slip under the materialize limit
    ],
)
def test_an_edited_reference_is_refused(edit):
    edited = RayResultRef.from_xcom({**make_ref().to_xcom(), **edit})
    with pytest.raises(RayReferenceError, match="does not carry this deployment's signature"):
        check(edited)


def test_a_reference_signed_with_another_key_is_refused():
    with pytest.raises(RayReferenceError, match="signature"):
        check(replace(make_ref()).signed(b"x" * 48))


def test_a_reference_of_another_run_or_deployment_is_refused():
    with pytest.raises(RayReferenceError, match="another DAG run"):
        check(make_ref(), run_id="manual__2026-11-26")
    with pytest.raises(RayReferenceError, match="belongs to deployment"):
        check(make_ref(), deployment="someone-else")


def test_a_checkpoint_outside_the_runs_folder_is_refused():
    outside = make_ref(checkpoint_uri="s3://other-bucket/loot/")
    with pytest.raises(RayReferenceError, match="outside"):
        check(outside)


def test_without_a_key_only_run_and_deployment_are_checked():
    unsigned = replace(make_ref(), signature=None)
    check(unsigned, key=None)
    with pytest.raises(RayReferenceError, match="signature"):
        check(unsigned)  # with a key configured, an unsigned reference is refused


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({MARKER: 1, "key": "a/b/c/-1", "namespace": "airflow"}, "format 1"),
        ({MARKER: 2, "dag_id": "d"}, "malformed"),
        ({**make_ref().to_xcom(), "extra_field": 1}, "malformed"),
        ({**make_ref().to_xcom(), "map_index": "0"}, "malformed"),
    ],
)
def test_malformed_references_are_clear_errors(value, match):
    with pytest.raises(RayReferenceError, match=match):
        RayResultRef.from_xcom(value)
