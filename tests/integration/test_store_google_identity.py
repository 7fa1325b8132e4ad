"""A GCS connection without an HMAC key: the Ray worker's Workload Identity, as GKE gives a pod.

Google's side cannot run here, so ``devstack.google_front`` stands in for it: a metadata server
that hands out OAuth 2.0 tokens and a storage front that, like GCS's XML API, takes a request
only with ``Authorization: Bearer <a token it issued>``, then passes it to a real MinIO. The
worker gets only the metadata server's address (``GCE_METADATA_HOST``), no key of any kind;
google-auth, as in a pod, finds the rest.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import ray

from devstack.google_front import SERVICE_ACCOUNT, GoogleFront, open_bucket
from devstack.s3_server import S3Server
from ray_provider.hooks.checkpoint_store import CheckpointStoreHook
from ray_provider.runtime import checkpoint_io as ckpt
from ray_provider.runtime.errors import StoreAccessDeniedError, StoreCredentialsError
from ray_provider.runtime.store import S3Store, StoreConfig

CONN_ID = "gcs_under_test"


@pytest.fixture(scope="module")
def backend():
    server = S3Server(bucket="gke-checkpoints").start()
    open_bucket(server)
    yield server
    server.discard()


@pytest.fixture(scope="module")
def front(backend):
    front = GoogleFront(backend).start()
    yield front
    front.stop()


@pytest.fixture
def pod_env(front, tmp_path):
    home = tmp_path / "gcloud"
    home.mkdir()
    return front.pod_env(str(home))


def keyless_config(monkeypatch, front, backend) -> StoreConfig:
    """The connection a GKE user writes: no login/password; Google's chain (named here, as
    the front is not on storage.googleapis.com, where ``auto`` picks it)."""
    conn = {
        "conn_type": "aws",
        "extra": {
            "endpoint_url": front.endpoint_url,
            "checkpoint_bucket": backend.bucket,
            "region_name": "auto",
            "credential_chain": "google",
        },
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    return CheckpointStoreHook(CONN_ID).signed_config("test")


def test_the_front_refuses_a_request_without_a_token(front, backend):
    anonymous = StoreConfig.for_endpoint(front.endpoint_url, backend.bucket, region="auto")
    with pytest.raises(StoreAccessDeniedError) as info:
        S3Store(anonymous, attempts=1).put_bytes("gke/anonymous", b"x")
    assert "AuthenticationRequired" in str(info.value)


def test_a_ray_worker_writes_a_checkpoint_with_its_pods_workload_identity(
    hook, front, backend, pod_env, monkeypatch
):
    config = keyless_config(monkeypatch, front, backend)
    assert config.access_key is None and config.credential_chain and config.uses_google_chain
    refused, issued = front.refused, front.issued

    @ray.remote(num_cpus=0.1, runtime_env={"env_vars": pod_env})
    def write(config: StoreConfig) -> tuple[dict, str]:
        manifest = ckpt.write_checkpoint(np.arange(50_000), config, "gke/one/", "ndarray")
        return manifest, S3Store(config).config.credential_source

    @ray.remote(num_cpus=0.1, runtime_env={"env_vars": pod_env})
    def read(config: StoreConfig, digest: str) -> np.ndarray:
        return ckpt.read_checkpoint(config, "gke/one/", digest)[0]

    manifest, source = ray.get(write.remote(config), timeout=120)
    assert "metadata server" in source and SERVICE_ACCOUNT in source
    np.testing.assert_array_equal(
        ray.get(read.remote(config, manifest["digest"]), timeout=120), np.arange(50_000)
    )
    assert front.refused == refused  # every request carried a live token
    assert front.issued > issued

    # The objects are in MinIO, behind the front: written with the token alone.
    listed = {
        item.object_name for item in backend.client().list_objects(backend.bucket, "gke/one/")
    }
    assert "gke/one/manifest.json" in listed


def test_tokens_that_expire_during_a_long_write_are_replaced_and_the_write_completes(
    hook, front, backend, pod_env, monkeypatch
):
    config = keyless_config(monkeypatch, front, backend)
    env = {**pod_env, "RAY_PROVIDER_TEST_WORKER": "long-write"}  # a worker of its own

    @ray.remote(num_cpus=0.1, runtime_env={"env_vars": env})
    def long_write(config: StoreConfig) -> tuple[int, bool]:
        from ray_provider.runtime import google_token, store

        # Every request finds its token about to expire: new ones between the parts.
        google_token.REFRESH_MARGIN_SECONDS = 10**9
        store.PART_SIZE = 5 * 1024 * 1024  # S3's smallest part
        value = np.random.default_rng(0).random(3_000_000)  # 24 MB: five parts
        manifest = ckpt.write_checkpoint(value, config, "gke/long/", "ndarray")
        fetches = google_token.cached_google_token().fetches
        restored, _ = ckpt.read_checkpoint(config, "gke/long/", manifest["digest"])
        return fetches, bool(np.array_equal(restored, value))

    refused = front.refused
    fetches, same = ray.get(long_write.remote(config), timeout=180)
    assert same
    assert fetches >= 6  # one per part at least, plus the upload's start and end
    assert front.refused == refused


def test_a_pod_without_an_identity_is_told_what_was_looked_for(
    hook, front, backend, tmp_path, monkeypatch
):
    config = keyless_config(monkeypatch, front, backend)
    home = tmp_path / "empty-gcloud"
    home.mkdir()
    # A metadata address where nothing listens: a pod (or laptop) outside GKE.
    env = {
        "GCE_METADATA_HOST": "127.0.0.1:9",
        "GCE_METADATA_IP": "127.0.0.1:9",
        "CLOUDSDK_CONFIG": str(home),
        "GOOGLE_APPLICATION_CREDENTIALS": "",
    }

    @ray.remote(num_cpus=0.1, runtime_env={"env_vars": env})
    def write(config: StoreConfig) -> None:
        S3Store(config).put_bytes("gke/nobody", b"x")

    with pytest.raises(StoreCredentialsError) as info:
        ray.get(write.remote(config), timeout=120)
    message = str(info.value)
    assert "Google's credential chain found nothing" in message
    assert "Workload Identity" in message and "HMAC key" in message
