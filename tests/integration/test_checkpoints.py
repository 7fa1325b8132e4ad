"""Checkpoints against a real S3 server (rclone serve s3) and a real Ray head.

Each value is computed on Ray, written to the store by a Ray worker, dropped from Ray, and
restored from the store by a consumer: it must come back exactly, with its type.
"""

from __future__ import annotations

import json

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
    """Compute on Ray, checkpoint, drop from Ray; returns the reference with its checkpoint."""
    ref, report = run_task(hook, "ckpt", run, name, factory)
    assert report.ok, report.traceback
    prefix = store.location("ckpt", run, name, -1)
    manifest = hook.write_checkpoint(ref.key, store.store_config(), prefix)
    hook.discard(ref.key)
    return ref.__class__(
        **{
            **ref.__dict__,
            "checkpoint_uri": manifest["uri"],
            "checkpoint_conn_id": "s3_checkpoints",
        }
    ), manifest


@pytest.mark.parametrize("name", list(VALUES))
def test_round_trip_is_exact(hook, store, name):
    ref, manifest = checkpoint_and_lose(hook, store, name, VALUES[name])
    assert manifest["versions"]["ray"]
    restored = hook.materialize(ref)
    assert_same(restored, VALUES[name]())


def test_formats_follow_the_type(hook, store, s3):
    checkpoint_and_lose(hook, store, "tuple_fmt", VALUES["tuple_of_frames"])
    checkpoint_and_lose(hook, store, "array_fmt", VALUES["array_2d"])
    checkpoint_and_lose(hook, store, "custom_fmt", VALUES["custom_object"])
    checkpoint_and_lose(hook, store, "numeric_fmt", VALUES["numeric_frame"])
    checkpoint_and_lose(hook, store, "mixed_fmt", VALUES["mixed_column_names"])
    formats = {}
    for name in ("tuple_fmt", "array_fmt", "custom_fmt", "numeric_fmt", "mixed_fmt"):
        raw = s3.client().get_object(s3.bucket, f"checkpoints/ckpt/r1/{name}/-1/manifest.json")
        manifest = json.loads(raw.read())
        tree = manifest["tree"]
        leaves = tree["items"] if tree["kind"] != "leaf" else [tree]
        formats[name] = [leaf["format"] for leaf in leaves]
        assert manifest["type"] and manifest["size"] > 0 and manifest["created_at"]
        assert all(len(p["crc32"]) == 8 and p["size"] for p in manifest["parts"].values())
    assert formats == {
        "tuple_fmt": ["arrow-ipc-stream", "arrow-ipc-stream"],
        "array_fmt": ["arrow-tensor"],
        "custom_fmt": ["cloudpickle"],
        "numeric_fmt": ["arrow-ipc-stream"],
        "mixed_fmt": ["cloudpickle"],
    }


def test_booster_round_trips_in_xgboost_format(hook, store):
    import xgboost as xgb

    ref, manifest = checkpoint_and_lose(hook, store, "booster", make_booster)
    assert manifest["tree"]["format"] == "xgboost-ubj"
    restored = hook.materialize(ref)
    original = make_booster()
    probe = xgb.DMatrix(np.random.default_rng(1).normal(size=(50, 4)))
    np.testing.assert_array_equal(restored.predict(probe), original.predict(probe))


def test_modin_frame_comes_back_as_modin(hook, store):
    def make_modin():
        import modin.pandas as mpd

        return mpd.DataFrame(np.arange(3000.0).reshape(1000, 3))

    ref, _ = checkpoint_and_lose(hook, store, "modin", make_modin)
    import modin.pandas as mpd

    restored = hook.materialize(ref)
    assert isinstance(restored, mpd.DataFrame)
    assert float(restored.sum().sum()) == sum(range(3000))


def test_corrupt_part_is_refused(hook, store, s3):
    ref, manifest = checkpoint_and_lose(hook, store, "corrupt", VALUES["array_2d"], run="bad")
    [part] = manifest["parts"]
    import io

    s3.client().put_object(
        s3.bucket, f"checkpoints/ckpt/bad/corrupt/-1/{part}", io.BytesIO(b"garbage" * 100), 700
    )
    with pytest.raises(CheckpointRestoreError, match="corrupt") as info:
        hook.materialize(ref)
    assert part in str(info.value) and "clear the producing task" in str(info.value)
    assert ref.key not in hook.registry_stats()["keys"]


def test_one_flipped_byte_is_refused(hook, store, s3):
    """Same size, one bit different: only the checksum can tell."""
    import io

    ref, manifest = checkpoint_and_lose(hook, store, "flipped", VALUES["array_2d"], run="bad")
    [part] = manifest["parts"]
    name = f"checkpoints/ckpt/bad/flipped/-1/{part}"
    data = bytearray(s3.client().get_object(s3.bucket, name).read())
    data[len(data) // 2] ^= 0x01
    s3.client().put_object(s3.bucket, name, io.BytesIO(bytes(data)), len(data))
    with pytest.raises(CheckpointRestoreError, match=r"corrupt: .* crc32"):
        hook.materialize(ref)


def test_manifest_with_sha256_from_older_provider_is_verified(hook, store, s3):
    """Checkpoints written before the switch to CRC-32 record SHA-256: still read, and checked."""
    import hashlib
    import io

    ref, manifest = checkpoint_and_lose(hook, store, "older", VALUES["array_2d"], run="bad")
    [part] = manifest["parts"]
    prefix = "checkpoints/ckpt/bad/older/-1/"
    data = s3.client().get_object(s3.bucket, prefix + part).read()
    older = json.loads(s3.client().get_object(s3.bucket, prefix + "manifest.json").read())

    def put_manifest(sha256: str) -> None:
        del older["parts"][part]["crc32"]
        older["parts"][part]["sha256"] = sha256
        text = json.dumps(older).encode()
        s3.client().put_object(s3.bucket, prefix + "manifest.json", io.BytesIO(text), len(text))
        older["parts"][part]["crc32"] = "unused"

    put_manifest(hashlib.sha256(data).hexdigest())
    assert_same(hook.materialize(ref), VALUES["array_2d"]())
    hook.discard(ref.key)
    put_manifest("0" * 64)
    with pytest.raises(CheckpointRestoreError, match=r"corrupt: .* sha256"):
        hook.materialize(ref)


def test_missing_part_and_manifest_are_refused(hook, store, s3):
    ref, manifest = checkpoint_and_lose(
        hook, store, "partial", VALUES["tuple_of_frames"], run="bad"
    )
    first = sorted(manifest["parts"])[0]
    s3.client().remove_object(s3.bucket, f"checkpoints/ckpt/bad/partial/-1/{first}")
    with pytest.raises(CheckpointRestoreError, match="missing"):
        hook.materialize(ref)
    s3.client().remove_object(s3.bucket, "checkpoints/ckpt/bad/partial/-1/manifest.json")
    with pytest.raises(CheckpointRestoreError, match="No checkpoint at"):
        hook.materialize(ref)


def test_manifest_from_another_format_version_is_refused(hook, store, s3):
    import io

    ref, _ = checkpoint_and_lose(hook, store, "future", VALUES["array_int"], run="bad")
    name = "checkpoints/ckpt/bad/future/-1/manifest.json"
    future = json.loads(s3.client().get_object(s3.bucket, name).read())
    future["format_version"] = 99
    data = json.dumps(future).encode()
    s3.client().put_object(s3.bucket, name, io.BytesIO(data), len(data))
    with pytest.raises(CheckpointRestoreError, match="format version 99"):
        hook.materialize(ref)


def test_store_down_at_write_keeps_the_ray_copy(hook, store, s3):
    ref, report = run_task(hook, "ckpt", "down", "produce", VALUES["array_2d"])
    hook.describe(ref.key, report.result_type, report.result_size, awaiting_checkpoint=True)
    prefix = store.location("ckpt", "down", "produce", -1)
    s3.stop()
    try:
        with pytest.raises(CheckpointWriteError) as info:
            hook.write_checkpoint(ref.key, store.store_config(), prefix)
    finally:
        s3.start()
    assert s3.endpoint_url in str(info.value)
    assert "3 attempts" in str(info.value)
    # The value is still in Ray, waiting for its checkpoint; a second attempt succeeds.
    assert hook.result_state(ref.key)["awaiting_checkpoint"] is True
    manifest = hook.write_checkpoint(ref.key, store.store_config(), prefix)
    assert hook.result_state(ref.key)["checkpoint_uri"] == manifest["uri"]


def test_list_and_delete_a_runs_checkpoints(hook, store):
    checkpoint_and_lose(hook, store, "a", VALUES["array_int"], run="cleanup")
    checkpoint_and_lose(hook, store, "b", VALUES["series"], run="cleanup")
    listed = store.list_checkpoints("ckpt", "cleanup")
    assert sorted(c["uri"].rstrip("/").rsplit("/", 2)[-2] for c in listed) == ["a", "b"]
    assert store.delete_checkpoints("ckpt", "cleanup") >= 4
    assert store.list_checkpoints("ckpt", "cleanup") == []
    assert store.list_checkpoints("ckpt", "r1")  # other runs untouched


def test_cli_lists_and_deletes(hook, store):
    from tests.support.snippets import run_python

    checkpoint_and_lose(hook, store, "cli", VALUES["array_int"], run="cli-run")

    def cli(action: str, *extra: str):
        args = [action, "--conn-id", "s3_checkpoints", "--dag-id", "ckpt", "--run-id", "cli-run"]
        code = "from ray_provider.checkpoints import main; import sys; sys.exit(main({!r}))"
        return run_python(code.format([*args, *extra]))

    listed = cli("list")
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "s3://ray-checkpoints/checkpoints/ckpt/cli-run/cli/-1/" in listed.stdout
    refused = cli("delete")
    assert refused.returncode != 0 and "without --yes" in refused.stderr
    deleted = cli("delete", "--yes")
    assert deleted.returncode == 0 and "deleted 2 object(s)" in deleted.stdout
    assert store.list_checkpoints("ckpt", "cli-run") == []
