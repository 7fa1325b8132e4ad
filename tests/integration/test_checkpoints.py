"""Checkpoints against a real S3 server (MinIO, as in the cluster) and a real Ray head.

Each value is computed on Ray, written to the store by a Ray worker, dropped from Ray, and
restored from the store by a consumer: it must come back exactly, with its type.
"""

from __future__ import annotations

import io
import json
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ray_provider.exceptions import CheckpointRestoreError, CheckpointWriteError
from ray_provider.hooks.checkpoint_store import CheckpointStoreHook
from tests.support.registry import run_task


class Custom:
    """Something with no special format: stored with cloudpickle."""

    def __init__(self, items):
        self.items = items

    def __eq__(self, other):
        return isinstance(other, Custom) and other.items == self.items


def make_frame():
    frame = pd.DataFrame(
        {"label": np.arange(1000) % 2, "f1": np.linspace(0, 1, 1000, dtype="float32")},
        index=pd.Index([f"r{i}" for i in range(1000)], name="row"),
    )
    frame["cat"] = pd.Categorical(["a", "b"] * 500)
    return frame


def make_booster():
    import xgboost as xgb

    rng = np.random.default_rng(0)
    features = rng.normal(size=(500, 4))
    labels = (features[:, 0] > 0).astype(int)
    return xgb.train(
        {"objective": "binary:logistic", "tree_method": "hist"},
        xgb.DMatrix(features, label=labels),
        num_boost_round=5,
    )


VALUES = {
    "frame": make_frame,
    "int_columns": lambda: pd.DataFrame(np.arange(12.0).reshape(4, 3)),
    # The zero-copy path: numeric numpy columns and a RangeIndex (here one not from 0).
    "numeric_frame": lambda: pd.DataFrame(
        {
            "x": np.array([np.nan, np.inf, -0.0, 1.5], dtype="float32"),
            "n": np.array([1, -2, 3, 2**40], dtype="int64"),
            "u": np.array([1, 2, 3, 255], dtype="uint8"),
            "flag": [True, False, True, False],
        },
        index=pd.RangeIndex(10, 18, 2, name="row"),
    ),
    "series": lambda: pd.Series([1.5, 2.5], name="score"),
    "array_2d": lambda: np.arange(29 * 1000, dtype="float32").reshape(1000, 29),
    "array_int": lambda: np.arange(10, dtype="int64"),
    "tuple_of_frames": lambda: (make_frame().iloc[:600], make_frame().iloc[600:]),
    "dict_mixed": lambda: {"model_rounds": 5, "weights": np.ones(3), "name": "higgs"},
    "custom_object": lambda: Custom({"a": [1, 2, {3}]}),
    # Arrow would turn these column names into strings: stored with cloudpickle instead.
    "mixed_column_names": lambda: pd.DataFrame({"x": [1.0], 7: [2.0]}),
}


def assert_same(actual, expected):
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(actual, expected)
    elif isinstance(expected, pd.Series):
        pd.testing.assert_series_equal(actual, expected)
    elif isinstance(expected, np.ndarray):
        assert actual.dtype == expected.dtype and actual.shape == expected.shape
        np.testing.assert_array_equal(actual, expected)
    elif isinstance(expected, (tuple, list)):
        assert type(actual) is type(expected) and len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            assert_same(a, e)
    elif isinstance(expected, dict):
        assert actual.keys() == expected.keys()
        for key in expected:
            assert_same(actual[key], expected[key])
    else:
        assert actual == expected


@pytest.fixture(scope="module")
def store(s3):
    return CheckpointStoreHook("s3_checkpoints")


def checkpoint_and_lose(hook, store, name, factory, run="r1"):
    """Compute on Ray, checkpoint, drop from Ray; returns (reference, manifest, object prefix)."""
    ref, report = run_task(hook, "ckpt", run, name, factory)
    assert report.ok, report.traceback
    prefix = store.location("ckpt", run, name, -1, ref.generation)
    manifest = hook.results().write_checkpoint(ref, store.store_config(), prefix)
    hook.results().discard(ref)
    ref = replace(
        ref,
        checkpoint_uri=manifest["uri"],
        checkpoint_conn_id="s3_checkpoints",
        manifest_digest=manifest["digest"],
    )
    return ref.signed(store.deployment.key), manifest, prefix


def put(s3, name, data: bytes):
    s3.client().put_object(s3.bucket, name, io.BytesIO(data), len(data))


def get(s3, name) -> bytes:
    return s3.client().get_object(s3.bucket, name).read()


@pytest.mark.parametrize("name", list(VALUES))
def test_round_trip_is_exact(hook, store, name):
    ref, manifest, _ = checkpoint_and_lose(hook, store, name, VALUES[name])
    assert manifest["versions"]["ray"]
    restored = hook.results().materialize(ref)
    assert_same(restored, VALUES[name]())


def test_formats_follow_the_type(hook, store, s3):
    prefixes = {
        name: checkpoint_and_lose(hook, store, name, VALUES[value])[2]
        for name, value in [
            ("tuple_fmt", "tuple_of_frames"),
            ("array_fmt", "array_2d"),
            ("custom_fmt", "custom_object"),
            ("numeric_fmt", "numeric_frame"),
            ("mixed_fmt", "mixed_column_names"),
        ]
    }
    formats = {}
    for name, prefix in prefixes.items():
        stored = json.loads(get(s3, prefix + "manifest.json"))
        assert stored["signature"]["alg"] == "hmac-sha256" and stored["body"]["location"] == prefix
        manifest = stored["body"]
        tree = manifest["tree"]
        leaves = tree["items"] if tree["kind"] != "leaf" else [tree]
        formats[name] = [leaf["format"] for leaf in leaves]
        assert manifest["type"] and manifest["size"] > 0 and manifest["created_at"]
        assert all(len(p["sha256"]) == 64 and p["size"] for p in manifest["parts"].values())
    assert formats == {
        "tuple_fmt": ["arrow-ipc-stream", "arrow-ipc-stream"],
        "array_fmt": ["arrow-tensor"],
        "custom_fmt": ["cloudpickle"],
        "numeric_fmt": ["arrow-ipc-stream"],
        "mixed_fmt": ["cloudpickle"],
    }


def test_booster_round_trips_in_xgboost_format(hook, store):
    import xgboost as xgb

    ref, manifest, _ = checkpoint_and_lose(hook, store, "booster", make_booster)
    assert manifest["tree"]["format"] == "xgboost-ubj"
    restored = hook.results().materialize(ref)
    original = make_booster()
    probe = xgb.DMatrix(np.random.default_rng(1).normal(size=(50, 4)))
    np.testing.assert_array_equal(restored.predict(probe), original.predict(probe))


def test_modin_frame_comes_back_as_modin(hook, store):
    def make_modin():
        import modin.pandas as mpd

        return mpd.DataFrame(np.arange(3000.0).reshape(1000, 3))

    ref, _, _ = checkpoint_and_lose(hook, store, "modin", make_modin)
    import modin.pandas as mpd

    restored = hook.results().materialize(ref)
    assert isinstance(restored, mpd.DataFrame)
    assert float(restored.sum().sum()) == sum(range(3000))


def test_corrupt_part_is_refused(hook, store, s3):
    ref, manifest, prefix = checkpoint_and_lose(hook, store, "corrupt", VALUES["array_2d"], "bad")
    [part] = manifest["parts"]
    put(s3, prefix + part, b"garbage" * 100)
    with pytest.raises(CheckpointRestoreError, match="corrupt") as info:
        hook.results().materialize(ref)
    assert part in str(info.value) and "clear the producing task" in str(info.value)
    assert ref.key not in hook.results().stats()["keys"]


def test_one_flipped_byte_is_refused(hook, store, s3):
    """Same size, one bit different: only the checksum can tell."""
    ref, manifest, prefix = checkpoint_and_lose(hook, store, "flipped", VALUES["array_2d"], "bad")
    [part] = manifest["parts"]
    data = bytearray(get(s3, prefix + part))
    data[len(data) // 2] ^= 0x01
    put(s3, prefix + part, bytes(data))
    with pytest.raises(CheckpointRestoreError, match=r"corrupt or was replaced: .* sha256"):
        hook.results().materialize(ref)


class _Tripwire:
    """Unpickling this creates a file: proof that a tampered part was decoded."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return Path.touch, (Path(self.path),)


def test_tampered_pickle_part_is_never_unpickled(hook, store, s3, tmp_path):
    """A part replaced with a hostile pickle is refused before a byte of it is decoded.

    Before manifests were signed and parts verified whole, such a part ran on the Ray worker
    and only then failed its CRC check.
    """
    ref, manifest, prefix = checkpoint_and_lose(
        hook, store, "hostile", VALUES["custom_object"], "bad"
    )
    [part] = manifest["parts"]
    tripwire = tmp_path / "unpickled"
    put(s3, prefix + part, pickle.dumps(_Tripwire(str(tripwire))))
    with pytest.raises(CheckpointRestoreError, match="corrupt or was replaced") as info:
        hook.results().materialize(ref)
    assert f"{prefix}{part}" in str(info.value)
    assert not tripwire.exists()


def test_forged_manifest_is_refused_before_any_part_is_read(hook, store, s3, tmp_path):
    """Someone who can write the bucket but lacks the key cannot make a manifest we accept."""
    import hashlib
    import hmac

    ref, manifest, prefix = checkpoint_and_lose(
        hook, store, "forged", VALUES["custom_object"], "bad"
    )
    [part] = manifest["parts"]
    tripwire = tmp_path / "unpickled"
    hostile = pickle.dumps(_Tripwire(str(tripwire)))
    put(s3, prefix + part, hostile)
    stored = json.loads(get(s3, prefix + "manifest.json"))
    stored["body"]["parts"][part] = {
        "size": len(hostile),
        "sha256": hashlib.sha256(hostile).hexdigest(),
    }
    for signature in (
        stored["signature"]["value"],  # the old signature over the edited body
        hmac.new(b"a key of the attacker's own", b"", hashlib.sha256).hexdigest(),
    ):
        stored["signature"]["value"] = signature
        put(s3, prefix + "manifest.json", json.dumps(stored).encode())
        with pytest.raises(CheckpointRestoreError, match="not signed with this deployment's key"):
            hook.results().materialize(ref)
    assert not tripwire.exists()


def test_manifest_copied_from_another_checkpoint_is_refused(hook, store, s3):
    """A genuine manifest moved to another try's folder is refused: it names its location."""
    _, _, source = checkpoint_and_lose(hook, store, "copied_from", VALUES["array_int"], "bad")
    ref, _, target = checkpoint_and_lose(hook, store, "copied_to", VALUES["array_int"], "bad")
    for obj in s3.client().list_objects(s3.bucket, source, recursive=True):
        put(s3, target + obj.object_name[len(source) :], get(s3, obj.object_name))
    with pytest.raises(CheckpointRestoreError, match=r"was signed for .* copied here"):
        hook.results().materialize(ref)


def test_checkpoint_overwritten_since_the_reference_is_refused(hook, store):
    """A reference pins its manifest's digest: a rewrite in place is not silently used."""
    ref, _, prefix = checkpoint_and_lose(hook, store, "rewritten", VALUES["array_int"], "bad")
    other, _ = run_task(hook, "ckpt", "bad", "rewriter", lambda: np.arange(5))
    hook.results().write_checkpoint(other, store.store_config(), prefix)
    with pytest.raises(CheckpointRestoreError, match="overwritten since"):
        hook.results().materialize(ref)


def test_missing_part_and_manifest_are_refused(hook, store, s3):
    ref, manifest, prefix = checkpoint_and_lose(
        hook, store, "partial", VALUES["tuple_of_frames"], run="bad"
    )
    first = sorted(manifest["parts"])[0]
    s3.client().remove_object(s3.bucket, prefix + first)
    with pytest.raises(CheckpointRestoreError, match="missing"):
        hook.results().materialize(ref)
    s3.client().remove_object(s3.bucket, prefix + "manifest.json")
    with pytest.raises(CheckpointRestoreError, match="No checkpoint at"):
        hook.results().materialize(ref)


def test_manifest_from_another_format_version_is_refused(hook, store, s3):
    ref, _, prefix = checkpoint_and_lose(hook, store, "older", VALUES["array_int"], run="bad")
    put(s3, prefix + "manifest.json", json.dumps({"format_version": 1, "tree": {}}).encode())
    with pytest.raises(CheckpointRestoreError, match="format version 1"):
        hook.results().materialize(ref)


def test_checkpoints_of_another_deployment_are_refused(hook, store, monkeypatch):
    """Same bucket, same dag/run/task: each deployment has its own folder and its own key."""
    from ray_provider.client.deployment import ENV

    ref, _, prefix = checkpoint_and_lose(hook, store, "shared", VALUES["array_int"], "same")
    monkeypatch.setenv(ENV, "another deployment's key, long enough to be accepted")
    other_store = CheckpointStoreHook("s3_checkpoints")
    other_ref, _, other_prefix = checkpoint_and_lose(
        hook, other_store, "shared", VALUES["array_int"], "same"
    )
    assert other_prefix.split("/")[1] != prefix.split("/")[1]  # the deployment ids
    # Deployment B given A's reference: refused as not B's (its signature and its folder).
    from ray_provider.exceptions import RayReferenceError

    with pytest.raises(RayReferenceError, match="signature"):
        ref.check(
            key=other_store.deployment.key,
            deployment=other_store.deployment.id,
            dag_id="ckpt",
            run_id="same",
        )
    # And B cannot read A's checkpoint even when pointed at it: A's key signed it.
    with pytest.raises(CheckpointRestoreError, match="not signed with this deployment's key"):
        hook.results().restore(ref)
    assert_same(hook.results().materialize(other_ref), VALUES["array_int"]())


def test_store_down_at_write_keeps_the_ray_copy(hook, store, s3):
    ref, report = run_task(hook, "ckpt", "down", "produce", VALUES["array_2d"])
    hook.results().describe(ref, report.result_type, report.result_size, awaiting_checkpoint=True)
    prefix = store.location("ckpt", "down", "produce", -1, ref.generation)
    s3.stop()
    try:
        with pytest.raises(CheckpointWriteError) as info:
            hook.results().write_checkpoint(ref, store.store_config(), prefix)
    finally:
        s3.start()
    assert s3.endpoint_url in str(info.value)
    assert "3 attempts" in str(info.value)
    # The value is still in Ray, waiting for its checkpoint; a second attempt succeeds.
    assert hook.results().result_state(ref.key)["awaiting_checkpoint"] is True
    manifest = hook.results().write_checkpoint(ref, store.store_config(), prefix)
    assert hook.results().result_state(ref.key)["checkpoint_uri"] == manifest["uri"]


def test_list_and_delete_a_runs_checkpoints(hook, store):
    checkpoint_and_lose(hook, store, "a", VALUES["array_int"], run="cleanup")
    checkpoint_and_lose(hook, store, "b", VALUES["series"], run="cleanup")
    listed = store.list_checkpoints("ckpt", "cleanup")
    assert sorted(c["uri"].rstrip("/").rsplit("/", 3)[-3] for c in listed) == ["a", "b"]
    assert store.delete_checkpoints("ckpt", "cleanup") >= 4
    assert store.list_checkpoints("ckpt", "cleanup") == []
    assert store.list_checkpoints("ckpt", "r1")  # other runs untouched


def test_cli_lists_and_deletes(hook, store):
    from tests.support.snippets import run_python

    _, _, prefix = checkpoint_and_lose(hook, store, "cli", VALUES["array_int"], run="cli-run")

    def cli(action: str, *extra: str):
        args = [action, "--conn-id", "s3_checkpoints", "--dag-id", "ckpt", "--run-id", "cli-run"]
        code = "from ray_provider.cli.checkpoints import main; import sys; sys.exit(main({!r}))"
        return run_python(code.format([*args, *extra]))

    listed = cli("list")
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert f"s3://ray-checkpoints/{prefix}" in listed.stdout
    refused = cli("delete")
    assert refused.returncode != 0 and "without --yes" in refused.stderr
    deleted = cli("delete", "--yes")
    assert deleted.returncode == 0 and "deleted 2 object(s)" in deleted.stdout
    assert store.list_checkpoints("ckpt", "cli-run") == []
