"""The checkpoint connection's extras: bad values are refused naming the field."""

from __future__ import annotations

import json

import pytest

from ray_provider.exceptions import CheckpointConfigError
from ray_provider.hooks.checkpoint_store import CheckpointStoreHook


def store_with(monkeypatch, **extra):
    conn = {
        "conn_type": "aws",
        "login": "key",
        "password": "secret",
        "extra": {"endpoint_url": "http://127.0.0.1:9", "checkpoint_bucket": "b", **extra},
    }
    monkeypatch.setenv("AIRFLOW_CONN_STORE_UNDER_TEST", json.dumps(conn))
    return CheckpointStoreHook("store_under_test")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("checkpoint_attempts", 0),
        ("checkpoint_attempts", 2.5),
        ("checkpoint_attempts", "many"),
        ("checkpoint_attempts", True),
        ("checkpoint_backoff_seconds", -1),
    ],
)
def test_bad_retry_settings_name_the_field(monkeypatch, field, value):
    with pytest.raises(CheckpointConfigError, match=field):
        store_with(monkeypatch, **{field: value}).store_config()


def test_good_retry_settings_are_used(monkeypatch):
    config = store_with(
        monkeypatch, checkpoint_attempts="2", checkpoint_backoff_seconds=0
    ).store_config()
    assert (config.attempts, config.backoff_seconds) == (2, 0.0)
    assert "secret" not in repr(config)


def test_artifact_names_cannot_leave_the_run_folder(monkeypatch):
    store = store_with(monkeypatch)
    for name in ("../../other_run/model.ubj", "", ".."):
        with pytest.raises(CheckpointConfigError, match="plain file name"):
            store.save_bytes("dag", "run", name, b"x")


def test_the_retired_bucket_alias_is_refused_naming_checkpoint_bucket(monkeypatch):
    store = store_with(monkeypatch, checkpoint_bucket="", bucket="old-name")
    with pytest.raises(CheckpointConfigError, match="rename it to 'checkpoint_bucket'"):
        store.store_config()


def test_a_bucket_extra_of_other_tools_is_left_alone(monkeypatch):
    """An aws connection is shared: beside checkpoint_bucket, a plain 'bucket' is not ours."""
    config = store_with(monkeypatch, bucket="someone-elses").store_config()
    assert config.bucket == "b"
