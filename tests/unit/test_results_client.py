"""``RayResults`` without a cluster: the identity it gives a try, the references it signs and
the exception it raises for a failed remote callable."""

from __future__ import annotations

import pickle

import pytest

from ray_provider.client.deployment import Deployment
from ray_provider.client.results import RayResults, RemoteTraceback, remote_exception
from ray_provider.client.settings import RaySettings
from ray_provider.exceptions import RayRemoteTaskError
from ray_provider.runtime.execute import TaskReport
from ray_provider.runtime.keys import result_key, run_key

KEY = b"a deployment key of at least thirty-two characters"


def client(key: bytes | None = KEY) -> RayResults:
    settings = RaySettings(conn_id="ray_test", address="ray://ray-head:10001", namespace="ns")
    return RayResults(settings, "ray_test", deployment=Deployment(key))


def test_a_new_result_is_this_deployments_slot_with_a_fresh_generation():
    results = client()
    first = results.new_result("dag", "run", "task")
    again = results.new_result("dag", "run", "task")
    deployment = Deployment(KEY).id
    assert first.key == result_key(deployment, "dag", "run", "task", -1)
    assert first.run_key == run_key(deployment, "dag", "run")
    assert first.generation and first.generation != again.generation
    assert (first.namespace, first.ray_conn_id) == ("ns", "ray_test")
    assert results.new_result("dag", "run", "task", None).map_index == -1  # unmapped TI


def test_a_reference_is_signed_and_names_its_checkpoint():
    results = client()
    slot = results.new_result("dag", "run", "task", 3)
    manifest = {"uri": "s3://bucket/prefix/x/", "digest": "ab" * 32}
    ref = results.reference(slot, manifest, "store_conn")
    assert ref.signature
    assert (ref.checkpoint_uri, ref.checkpoint_conn_id, ref.manifest_digest) == (
        "s3://bucket/prefix/x/",
        "store_conn",
        "ab" * 32,
    )
    plain = results.reference(slot, None, "store_conn")
    assert plain.checkpoint_uri is None and plain.checkpoint_conn_id is None
    assert plain.signature != ref.signature
    assert client(None).reference(slot).signature is None  # unkeyed: nothing to sign with


def test_the_callables_own_exception_is_raised_with_the_remote_traceback():
    report = TaskReport(
        ok=False,
        error=pickle.dumps(KeyError("missing column")),
        error_type="KeyError",
        error_message="'missing column'",
        traceback="Traceback (most recent call last): ... KeyError",
    )
    exc = remote_exception(report)
    assert isinstance(exc, KeyError) and exc.args == ("missing column",)
    assert isinstance(exc.__cause__, RemoteTraceback)
    assert "on the Ray worker" in str(exc.__cause__)


@pytest.mark.parametrize("error", [None, b"not a pickle", pickle.dumps("not an exception")])
def test_an_exception_that_does_not_unpickle_is_named_instead(error):
    report = TaskReport(ok=False, error=error, error_type="app.Odd", error_message="odd")
    exc = remote_exception(report)
    assert isinstance(exc, RayRemoteTaskError) and str(exc) == "app.Odd: odd"
    assert isinstance(exc.__cause__, RemoteTraceback)
