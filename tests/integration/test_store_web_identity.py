"""A connection without keys: the Ray worker's own identity, as IRSA gives a pod, against MinIO.

MinIO trusts a local OpenID issuer (``devstack.oidc_issuer``, standing in for a cluster's
service-account issuer) and implements ``AssumeRoleWithWebIdentity``; the worker gets the
token file and role the way EKS sets them (``AWS_WEB_IDENTITY_TOKEN_FILE``, ``AWS_ROLE_ARN``)
and no keys at all.
"""

from __future__ import annotations

import numpy as np
import pytest
import ray

from devstack.oidc_issuer import OidcIssuer
from devstack.s3_server import S3Server
from ray_provider.runtime import checkpoint_io as ckpt
from ray_provider.runtime import credential_chain, store
from ray_provider.runtime.errors import StoreAccessDeniedError, StoreCredentialsError
from ray_provider.runtime.store import S3Store, StoreConfig
from tests.integration.test_store_credentials import store_hook

AUDIENCE = "sts.amazonaws.com"  # what EKS puts in the token for IRSA
ROLE = "arn:aws:iam::000000000000:role/ray-worker"
SUBJECT = "system:serviceaccount:ray:ray-worker"


@pytest.fixture(scope="module")
def issuer():
    issuer = OidcIssuer().start()
    yield issuer
    issuer.stop()


@pytest.fixture(scope="module")
def trusting_s3(issuer):
    """A MinIO whose STS trusts the issuer; a token's ``policy`` claim is its MinIO policy."""
    server = S3Server(bucket="pod-identity", extra_env=issuer.minio_env(AUDIENCE)).start()
    yield server
    server.discard()


@pytest.fixture
def pod_env(issuer, tmp_path, monkeypatch):
    """The environment EKS gives a pod whose ServiceAccount has a role annotation."""
    token_file = tmp_path / "token"
    token_file.write_text(issuer.token(SUBJECT, audience=AUDIENCE, policy="readwrite"))
    env = {
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "AWS_ROLE_ARN": ROLE,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name in credential_chain.CHAIN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(credential_chain, "_found", {})
    return env


def keyless_config(monkeypatch, server) -> StoreConfig:
    return store_hook(monkeypatch, server, login="", password="").signed_config("test")


def root_config(server) -> StoreConfig:
    return StoreConfig.for_endpoint(
        server.endpoint_url,
        server.bucket,
        access_key=server.access_key,
        secret_key=server.secret_key,
        signing_key=b"k" * 32,
    )


def test_a_ray_worker_writes_a_checkpoint_with_its_pods_web_identity(
    hook, trusting_s3, pod_env, monkeypatch
):
    config = keyless_config(monkeypatch, trusting_s3)
    assert config.access_key is None and config.credential_chain
    assert config.sts_endpoint == trusting_s3.endpoint_url

    @ray.remote(num_cpus=0.1, runtime_env={"env_vars": pod_env})
    def write(config: StoreConfig) -> tuple[dict, str]:
        manifest = ckpt.write_checkpoint(np.arange(50_000), config, "pod/one/", "ndarray")
        return manifest, S3Store(config).config.credential_source

    manifest, source = ray.get(write.remote(config), timeout=120)
    assert (
        f"web identity: role {ROLE!r}" in source
        and pod_env["AWS_WEB_IDENTITY_TOKEN_FILE"] in source
    )

    # Written with the worker's own temporary keys; the object is there for anyone allowed.
    trusted = StoreConfig(
        **{**root_config(trusting_s3).__dict__, "signing_key": config.signing_key}
    )
    value, _ = ckpt.read_checkpoint(trusted, "pod/one/", manifest["digest"])
    np.testing.assert_array_equal(value, np.arange(50_000))


def test_keys_that_expire_during_a_long_write_are_replaced_and_the_write_completes(
    trusting_s3, pod_env, monkeypatch
):
    config = keyless_config(monkeypatch, trusting_s3)
    # Every request finds its keys about to expire: new ones are fetched between the parts.
    monkeypatch.setattr(credential_chain, "REFRESH_MARGIN_SECONDS", 10**9)
    monkeypatch.setattr(store, "PART_SIZE", 5 * 1024 * 1024)  # S3's smallest part
    value = np.random.default_rng(0).random(3_000_000)  # 24 MB: five parts
    manifest = ckpt.write_checkpoint(value, config, "pod/long/", "ndarray")

    provider = credential_chain.cached_credentials(config.region, config.sts_endpoint).provider
    assert provider.fetches >= 6  # one per part at least, plus the upload's start and end
    restored, _ = ckpt.read_checkpoint(config, "pod/long/", manifest["digest"])
    np.testing.assert_array_equal(restored, value)


def test_a_refused_token_names_the_role_the_file_and_stss_answer(
    issuer, trusting_s3, pod_env, monkeypatch
):
    token_file = pod_env["AWS_WEB_IDENTITY_TOKEN_FILE"]
    token = issuer.token(SUBJECT, audience="another-audience", policy="readwrite")
    with open(token_file, "w") as f:
        f.write(token)
    config = keyless_config(monkeypatch, trusting_s3)
    with pytest.raises(StoreCredentialsError) as info:
        S3Store(config)
    message = str(info.value)
    assert ROLE in message and token_file in message and trusting_s3.endpoint_url in message
    assert "InvalidParameterValue" in message and "Client ID" in message
    assert token not in message


def test_a_worker_without_any_identity_is_anonymous_and_the_refusal_says_so(
    trusting_s3, pod_env, monkeypatch
):
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE")
    monkeypatch.delenv("AWS_ROLE_ARN")
    config = keyless_config(monkeypatch, trusting_s3)
    with pytest.raises(StoreAccessDeniedError) as info:
        S3Store(config).put_bytes("pod/anonymous", b"x")
    message = str(info.value)
    assert "AccessDenied" in message and "anonymous" in message
    assert "AWS_WEB_IDENTITY_TOKEN_FILE" in message
