"""AKS's store: checkpoints in Azure Blob Storage through s3proxy, signed in as a workload
identity, with no Azure key anywhere.

``devstack.azure_gateway`` runs the pinned s3proxy jar through the image's own entrypoint
(``docker/s3proxy/entrypoint.sh``) against Azurite (over HTTPS, taking bearer tokens as Blob
Storage does) and a stand-in for Entra ID's token endpoint that, like a federated credential,
trusts one projected service-account token. The provider talks S3 to the gateway with the
in-cluster keys the chart generates, as Airflow and Ray do on AKS.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import ray

from devstack.azure_gateway import AzureBlobGateway
from ray_provider.hooks.checkpoint_store import CheckpointStoreHook
from ray_provider.runtime import checkpoint_io as ckpt
from ray_provider.runtime.errors import CheckpointStoreError
from ray_provider.runtime.store import S3Store, StoreConfig

CONN_ID = "azure_gateway_under_test"


@pytest.fixture(scope="module")
def gateway():
    gateway = AzureBlobGateway.with_stand_ins(bucket="aks-checkpoints").start()
    yield gateway
    gateway.discard()


def gateway_config(monkeypatch, gateway: AzureBlobGateway) -> StoreConfig:
    """The connection the chart writes for store.kind azureblob: the gateway's keys."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", gateway.connection_json())
    return CheckpointStoreHook(CONN_ID).signed_config("test")


def blobs_in_azure(gateway: AzureBlobGateway, container: str, prefix: str) -> set[str]:
    """The blob names Azurite holds, listed with Blob Storage's own REST API and a token from
    the Entra stand-in: what the gateway wrote, seen from Azure's side."""
    entra = gateway.entra
    status, answer = entra.token_response(
        {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": gateway.token_file.read_text(),
            "client_id": entra.client_id,
        }
    )
    assert status == 200, answer
    url = f"{gateway.azurite.account_url}/{container}?restype=container&comp=list&prefix={prefix}"
    request = urllib.request.Request(
        url,
        headers={
            "Authorization": f"Bearer {answer['access_token']}",
            "x-ms-version": "2021-08-06",
        },
    )
    context = ssl.create_default_context(cafile=str(entra.tls.cert))
    with urllib.request.urlopen(request, context=context, timeout=30) as response:
        listing = ET.fromstring(response.read())
    return {name.text for name in listing.iter("Name")}


def test_azure_refuses_a_request_without_a_token(gateway):
    context = ssl.create_default_context(cafile=str(gateway.entra.tls.cert))
    request = urllib.request.Request(
        f"{gateway.azurite.account_url}?comp=list", headers={"x-ms-version": "2021-08-06"}
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, context=context, timeout=30)
    assert info.value.code in (401, 403)


def test_a_ray_worker_checkpoints_into_azure_blob_through_the_gateway(hook, gateway, monkeypatch):
    config = gateway_config(monkeypatch, gateway)
    refused = gateway.entra.refused

    @ray.remote(num_cpus=0.1)
    def write(config: StoreConfig) -> dict:
        from ray_provider.runtime import store

        store.PART_SIZE = 5 * 1024 * 1024  # S3's smallest part: a multipart upload of 3
        value = np.random.default_rng(7).random(1_500_000)  # 12 MB
        return ckpt.write_checkpoint(value, config, "aks/one/", "ndarray")

    @ray.remote(num_cpus=0.1)
    def read(config: StoreConfig, digest: str) -> np.ndarray:
        return ckpt.read_checkpoint(config, "aks/one/", digest)[0]

    manifest = ray.get(write.remote(config), timeout=180)
    restored = ray.get(read.remote(config, manifest["digest"]), timeout=180)
    np.testing.assert_array_equal(restored, np.random.default_rng(7).random(1_500_000))

    # The gateway signed in with the projected token only; Entra refused nothing.
    assert gateway.entra.issued >= 1
    assert gateway.entra.refused == refused
    # Azure holds the checkpoint as blobs of the bucket's container.
    names = blobs_in_azure(gateway, gateway.bucket, "aks/one/")
    assert "aks/one/manifest.json" in names and len(names) >= 2


def test_listing_and_deleting_through_the_gateway(gateway, monkeypatch, hook):
    config = gateway_config(monkeypatch, gateway)
    store = S3Store(config)
    for index in range(3):
        store.put_bytes(f"aks/list/{index}", json.dumps({"index": index}).encode())
    listed = sorted(item["name"] for item in store.list("aks/list/"))
    assert listed == [f"aks/list/{i}" for i in range(3)]
    store.delete([f"aks/list/{i}" for i in range(3)])
    assert store.list("aks/list/") == []
    assert blobs_in_azure(gateway, gateway.bucket, "aks/list/") == set()


def test_a_gateway_pod_without_a_workload_identity_stops_at_start_naming_the_fix(gateway):
    nobody = gateway.sibling(token_file=None)
    with pytest.raises(RuntimeError) as info:
        nobody.start()
    message = str(info.value)
    try:
        assert "AZURE_FEDERATED_TOKEN_FILE is not set" in message
        assert "--enable-workload-identity" in message and "store.azureblob.clientId" in message
    finally:
        nobody.discard()


def test_an_identity_entra_does_not_trust_fails_each_request_with_where_to_look(
    gateway, tmp_path, monkeypatch, hook
):
    stranger = tmp_path / "other-token"
    stranger.write_text("a token of another ServiceAccount")
    untrusted = gateway.sibling(token_file=stranger, create_bucket=False).start()
    try:
        refused = gateway.entra.refused
        config = StoreConfig.for_endpoint(
            untrusted.endpoint_url,
            gateway.bucket,
            access_key=untrusted.access_key,
            secret_key=untrusted.secret_key,
            region="us-east-1",
        )
        with pytest.raises(CheckpointStoreError) as info:
            S3Store(config, attempts=1).put_bytes("aks/stranger", b"x")
        message = str(info.value)
        assert untrusted.endpoint_url in message and "InternalError" in message
        assert "kubectl logs deploy/<release>-azureblob" in message
        # Entra said no, and the gateway's log says so, with Entra's own words.
        assert gateway.entra.refused > refused
        log = untrusted.log_text()
        assert "AADSTS700213" in log and "WorkloadIdentityCredential" in log
    finally:
        untrusted.discard()
