"""The GCS bearer token: when it is fetched again, and what the store client sends with it."""

from __future__ import annotations

import datetime

import pytest
from google.auth import exceptions

from ray_provider.runtime import google_token
from ray_provider.runtime.errors import StoreCredentialsError
from ray_provider.runtime.google_token import GoogleAccessToken, is_google_endpoint


class FakeCredentials:
    """google-auth's credentials interface: ``token``, naive-UTC ``expiry``, ``refresh``."""

    def __init__(self, lifetime: float, fail: bool = False) -> None:
        self.token: str | None = None
        self.expiry: datetime.datetime | None = None
        self.lifetime = lifetime
        self.fail = fail
        self.refreshed = 0

    def refresh(self, request) -> None:
        if self.fail:
            raise exceptions.RefreshError("metadata server said 404: no identity")
        self.refreshed += 1
        self.token = f"token-{self.refreshed}"
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        self.expiry = now + datetime.timedelta(seconds=self.lifetime)


def test_a_live_token_is_reused():
    token = GoogleAccessToken(FakeCredentials(lifetime=3600), None, "test")
    assert token.authorization() == "Bearer token-1"
    assert token.authorization() == "Bearer token-1"
    assert token.fetches == 1
    assert token.expires_at is not None


def test_a_token_inside_the_refresh_margin_is_fetched_again():
    # Valid for less than the margin: every use needs a new one.
    credentials = FakeCredentials(lifetime=google_token.REFRESH_MARGIN_SECONDS - 10)
    token = GoogleAccessToken(credentials, None, "test")
    assert [token.authorization() for _ in range(3)] == [
        "Bearer token-1",
        "Bearer token-2",
        "Bearer token-3",
    ]
    assert token.fetches == 3


def test_a_refused_refresh_names_the_source_and_the_fix():
    token = GoogleAccessToken(
        FakeCredentials(3600, fail=True), None, "the metadata server on pod-1"
    )
    with pytest.raises(
        StoreCredentialsError, match=r"the metadata server on pod-1.*Workload Identity"
    ):
        token.authorization()


@pytest.mark.parametrize(
    ("host", "google"),
    [
        ("storage.googleapis.com", True),
        ("STORAGE.googleapis.com:443", True),
        ("bucket.storage.googleapis.com", True),
        ("storage.googleapis.com.example", False),
        ("xstorage.googleapis.com", False),
        ("s3.amazonaws.com", False),
    ],
)
def test_google_endpoints_are_recognised_by_host(host, google):
    assert is_google_endpoint(host) is google


def test_the_bearer_client_sends_the_token_and_no_signature():
    from ray_provider.runtime.store import _bearer_minio

    token = GoogleAccessToken(FakeCredentials(3600), None, "test")
    client = _bearer_minio(token)("storage.googleapis.com", secure=True, region="auto")
    headers, _date = client._build_headers("storage.googleapis.com", {}, b"body", None)
    assert headers["Authorization"] == "Bearer token-1"
    assert "Content-MD5" in headers or "x-amz-content-sha256" in headers


def test_no_identity_on_the_machine_is_said_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(
        StoreCredentialsError,
        match=r"GOOGLE_APPLICATION_CREDENTIALS=.*missing.json could not be used.*HMAC key",
    ):
        google_token.find_google_token()
