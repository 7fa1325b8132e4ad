"""Credentials for the store against a real MinIO, which implements STS ``AssumeRole``.

A connection with ``role_arn`` hands Ray only temporary keys; keys given with a session token
work as they are; a refusal (by STS, or by the store for keys that may not write) names the
credentials that were used and never the secret.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from ray_provider.hooks.checkpoint_store import CheckpointStoreHook
from ray_provider.runtime import checkpoint_io as ckpt
from ray_provider.runtime import sts
from ray_provider.runtime.errors import StoreAccessDeniedError, StoreCredentialsError
from ray_provider.runtime.store import S3Store
from tests.support.registry import run_task

ROLE = "arn:aws:iam::000000000000:role/checkpoints"
READER = ("ckpt-reader", "reader-secret-never-shown")


def store_hook(monkeypatch, s3, conn_id="creds_under_test", login=None, password=None, **extra):
    conn = {
        "conn_type": "aws",
        "login": s3.access_key if login is None else login,
        "password": s3.secret_key if password is None else password,
        "extra": {"endpoint_url": s3.endpoint_url, "checkpoint_bucket": s3.bucket, **extra},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return CheckpointStoreHook(conn_id)


@pytest.fixture(scope="module")
def reader(s3):
    s3.add_user(*READER, policy="readonly")
    return READER


def test_ray_writes_and_reads_a_checkpoint_with_only_the_assumed_roles_keys(hook, s3, monkeypatch):
    store = store_hook(monkeypatch, s3, role_arn=ROLE, assume_role_kwargs={"DurationSeconds": 900})
    config = store.signed_config("test")
    # What travels to Ray: temporary keys with their token, never the connection's own.
    assert config.access_key != s3.access_key and config.secret_key != s3.secret_key
    assert config.session_token
    assert 800 < config.expires_at - time.time() <= 900
    assert ROLE in config.credential_source and s3.secret_key not in repr(config)

    ref, report = run_task(hook, "creds", "r1", "value", lambda: np.arange(10_000))
    assert report.ok, report.traceback
    prefix = store.location("creds", "r1", "value", -1, ref.generation)
    manifest = hook.results().write_checkpoint(ref, config, prefix)
    value, _ = ckpt.read_checkpoint(config, prefix, manifest["digest"])
    np.testing.assert_array_equal(value, np.arange(10_000))


def test_temporary_keys_with_their_session_token_work_and_without_it_are_named(s3, monkeypatch):
    temporary = sts.assume_role(
        s3.endpoint_url, s3.access_key, s3.secret_key, role_arn=ROLE, session_name="test"
    )
    with_token = store_hook(
        monkeypatch,
        s3,
        login=temporary.access_key,
        password=temporary.secret_key,
        aws_session_token=temporary.session_token,
    ).store_config()
    S3Store(with_token).put_bytes("creds/with-token", b"ok")
    assert S3Store(with_token).get_bytes("creds/with-token") == b"ok"

    without = store_hook(
        monkeypatch, s3, login=temporary.access_key, password=temporary.secret_key
    ).store_config()
    with pytest.raises(StoreAccessDeniedError) as info:
        S3Store(without).get_bytes("creds/with-token")
    message = str(info.value)
    assert f"access key {temporary.access_key!r}" in message and "creds_under_test" in message
    assert temporary.secret_key not in message


def test_a_refused_assume_role_names_the_role_the_endpoint_and_stss_answer(s3, monkeypatch):
    store = store_hook(monkeypatch, s3, password="not-the-secret", role_arn=ROLE)
    with pytest.raises(StoreCredentialsError) as info:
        store.store_config()
    message = str(info.value)
    assert ROLE in message and s3.endpoint_url in message and "HTTP 403" in message
    assert "AccessDenied" in message and "signature" in message
    assert "not-the-secret" not in message


def test_a_write_refused_to_read_only_keys_names_them_and_is_not_retried(s3, reader, monkeypatch):
    login, password = reader
    config = store_hook(monkeypatch, s3, login=login, password=password).store_config()
    store = S3Store(config)
    started = time.monotonic()
    with pytest.raises(StoreAccessDeniedError) as info:
        store.put_bytes("creds/refused", b"x")
    # An answer, not an outage: the connection's 3 attempts with backoff are not spent on it.
    assert time.monotonic() - started < 2
    message = str(info.value)
    assert "AccessDenied" in message and f"access key {login!r}" in message
    assert password not in message

    # The same user's assumed role inherits its read-only policy, and says so by the role.
    assumed = store_hook(
        monkeypatch, s3, login=login, password=password, role_arn=ROLE
    ).store_config()
    with pytest.raises(StoreAccessDeniedError, match="role 'arn:aws:iam::000000000000"):
        S3Store(assumed).put_bytes("creds/refused", b"x")
