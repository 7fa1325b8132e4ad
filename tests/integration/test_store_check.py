"""``python -m ray_provider.runtime.store_check``, the store half of the chart's ``helm test``.

Run as the pod runs it, in a process of its own with only the environment the chart gives:
MinIO's keys in ``AWS_*`` variables (the in-cluster store), a keyless GCS-like endpoint with
a metadata server (GKE's Workload Identity, through ``devstack.google_front``), a missing
bucket and wrong keys (which must fail, naming the bucket or the refusal).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from devstack.google_front import SERVICE_ACCOUNT, GoogleFront, open_bucket
from devstack.s3_server import S3Server


@pytest.fixture(scope="module")
def minio():
    server = S3Server(bucket="checkpoints").start()
    yield server
    server.discard()


def run_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true"}
    return subprocess.run(
        [sys.executable, "-m", "ray_provider.runtime.store_check"],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def store_env(server: S3Server, bucket: str | None = None) -> dict[str, str]:
    return {
        "S3_ENDPOINT": server.endpoint_url,
        "S3_REGION": "us-east-1",
        "S3_BUCKET": bucket or server.bucket,
    }


def test_keys_in_the_environment_reach_the_bucket(minio):
    keys = {"AWS_ACCESS_KEY_ID": minio.access_key, "AWS_SECRET_ACCESS_KEY": minio.secret_key}
    result = run_check({**store_env(minio), **keys})
    assert result.returncode == 0, result.stderr
    assert "store credentials: " in result.stdout and "environment" in result.stdout
    assert f"bucket {minio.bucket!r}" in result.stdout
    # Nothing was written: the check only lists.
    assert list(minio.client().list_objects(minio.bucket, recursive=True)) == []


def test_a_missing_bucket_fails_naming_it(minio):
    keys = {"AWS_ACCESS_KEY_ID": minio.access_key, "AWS_SECRET_ACCESS_KEY": minio.secret_key}
    result = run_check({**store_env(minio, "no-such-bucket"), **keys})
    assert result.returncode == 1
    assert "store check failed" in result.stderr and "no-such-bucket" in result.stderr


def test_wrong_keys_fail_with_the_refusal(minio):
    keys = {"AWS_ACCESS_KEY_ID": "wrong", "AWS_SECRET_ACCESS_KEY": "wrong-secret-key"}
    result = run_check({**store_env(minio), **keys})
    assert result.returncode == 1
    assert "InvalidAccessKeyId" in result.stderr and "environment" in result.stderr


def test_a_pods_workload_identity_reaches_gcs_without_keys(tmp_path):
    backend = S3Server(bucket="gke-checkpoints").start()
    try:
        open_bucket(backend)
        front = GoogleFront(backend).start()
        try:
            home = tmp_path / "gcloud"
            home.mkdir()
            env = {
                **front.pod_env(str(home)),
                "S3_ENDPOINT": front.endpoint_url,
                "S3_REGION": "auto",
                "S3_BUCKET": backend.bucket,
                "S3_CREDENTIAL_CHAIN": "google",  # auto picks it on storage.googleapis.com
            }
            result = run_check(env)
            assert result.returncode == 0, result.stderr
            assert "metadata server" in result.stdout and SERVICE_ACCOUNT in result.stdout
            assert front.issued >= 1 and front.refused == 0
        finally:
            front.stop()
    finally:
        backend.discard()
