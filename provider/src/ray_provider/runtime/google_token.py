"""OAuth 2.0 access tokens for Google Cloud Storage, from Google's own credential chain.

GCS's XML API, the S3-compatible one the store client speaks, takes either an HMAC key's
signature or ``Authorization: Bearer <OAuth 2.0 access token>``. A pod on GKE with Workload
Identity has no key at all: it gets tokens from the metadata server, as the Google SDKs do.
So for a GCS endpoint without keys the store asks ``google.auth.default()`` (Application
Default Credentials), which looks, in this order, at ``GOOGLE_APPLICATION_CREDENTIALS`` (a
service account key, or a workload identity federation config: an AKS or EKS pod trading its
own token for Google's), gcloud's application default login, and the GKE/GCE metadata server.

The token is fetched again ``REFRESH_MARGIN_SECONDS`` before it expires, under a lock, so the
parts of one long upload (sent from several threads) always carry a live one.
"""

from __future__ import annotations

import datetime
import os
import socket
import threading
from typing import Any

from ray_provider.runtime.errors import StoreCredentialsError

# Read and write objects, nothing else (no bucket IAM, no other services).
STORAGE_SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"
# Fetch a new token this long before the current one expires (Google's last ~5 minutes).
REFRESH_MARGIN_SECONDS = 300.0
GOOGLE_HOST_SUFFIX = "storage.googleapis.com"


def is_google_endpoint(host: str) -> bool:
    """``storage.googleapis.com`` (or a bucket-style ``BUCKET.storage.googleapis.com``)."""
    name = host.rsplit(":", 1)[0].lower()
    return name == GOOGLE_HOST_SUFFIX or name.endswith("." + GOOGLE_HOST_SUFFIX)


def _describe(credentials: Any) -> str:
    """Which kind of Google credentials these are, in words (never the secret)."""
    kind = type(credentials).__module__ + "." + type(credentials).__name__
    email = getattr(credentials, "service_account_email", "") or ""
    if kind.startswith("google.auth.compute_engine"):
        return f"the GKE/GCE metadata server (service account {email or 'default'})"
    if kind.startswith("google.oauth2.service_account"):
        return f"a service account key ({email})"
    if kind.startswith(("google.auth.external_account", "google.auth.identity_pool")):
        audience = getattr(credentials, "_audience", "") or ""
        return f"workload identity federation ({audience or 'external account'})"
    if kind.startswith("google.auth.impersonated_credentials"):
        target = getattr(credentials, "_target_principal", "") or ""
        return f"impersonated service account {target}"
    if kind.startswith("google.oauth2.credentials"):
        return "gcloud's application default login (a user's credentials)"
    return kind


class GoogleAccessToken:
    """The ``Authorization`` header value for GCS, refreshed before the token expires.

    Thread-safe. ``fetches`` counts the tokens obtained (the tests check the refresh).
    """

    def __init__(self, credentials: Any, request: Any, source: str) -> None:
        self._credentials = credentials
        self._request = request
        self._lock = threading.Lock()
        self.source = source
        self.fetches = 0

    def _stale(self) -> bool:
        token = getattr(self._credentials, "token", None)
        expiry = getattr(self._credentials, "expiry", None)
        if not token:
            return True
        if expiry is None:
            return False
        # google-auth keeps expiry as a naive UTC datetime.
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        return (expiry - now).total_seconds() < REFRESH_MARGIN_SECONDS

    def authorization(self) -> str:
        with self._lock:
            if self._stale():
                self._refresh()
            return f"Bearer {self._credentials.token}"

    def _refresh(self) -> None:
        from google.auth import exceptions

        try:
            self._credentials.refresh(self._request)
        except exceptions.GoogleAuthError as exc:
            raise StoreCredentialsError(
                f"Could not get a Google access token from {self.source}: {exc}. On GKE, "
                "check the pod's Workload Identity (the ServiceAccount's "
                "iam.gke.io/gcp-service-account annotation, or an IAM binding for its "
                "principal); elsewhere GOOGLE_APPLICATION_CREDENTIALS."
            ) from exc
        self.fetches += 1

    @property
    def expires_at(self) -> float | None:
        expiry = getattr(self._credentials, "expiry", None)
        if expiry is None:
            return None
        return expiry.replace(tzinfo=datetime.UTC).timestamp()


def find_google_token() -> GoogleAccessToken:
    """Application Default Credentials for GCS, with a first token fetched now (a pod without
    an identity is said here, not as an AccessDenied later)."""
    try:
        import google.auth
        import urllib3
        from google.auth import exceptions
        from google.auth.transport.urllib3 import Request
    except ImportError as exc:
        raise StoreCredentialsError(
            f"A GCS store without keys authenticates with Google's credentials, which needs "
            f"google-auth ({exc}): pip install 'ray-taskflow-provider[google]', or give the "
            "connection an HMAC key (login/password)."
        ) from exc
    host = socket.gethostname()
    request = Request(urllib3.PoolManager())
    try:
        credentials, _project = google.auth.default(scopes=[STORAGE_SCOPE], request=request)
    except exceptions.DefaultCredentialsError as exc:
        key_file = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        tried = (
            f"GOOGLE_APPLICATION_CREDENTIALS={key_file} could not be used"
            if key_file
            else "no GOOGLE_APPLICATION_CREDENTIALS, no gcloud application default login, "
            "no metadata server (GKE Workload Identity or a GCE service account)"
        )
        raise StoreCredentialsError(
            f"The GCS connection has no HMAC key, and on {host} Google's credential chain "
            f"found nothing: {tried}. Enable Workload Identity for the pod's ServiceAccount, "
            f"or give the connection an HMAC key (login/password). google-auth said: {exc}"
        ) from exc
    token = GoogleAccessToken(credentials, request, f"{_describe(credentials)} on {host}")
    token.authorization()
    # Named after the first token: the metadata server says which account it is only then.
    token.source = f"{_describe(credentials)} on {host}"
    return token


_found: dict[tuple, GoogleAccessToken] = {}
_found_lock = threading.Lock()
# The environment google-auth reads (a change of any of them is a new lookup).
GOOGLE_VARIABLES = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "CLOUDSDK_CONFIG",
    "GCE_METADATA_HOST",
    "GCE_METADATA_IP",
)


def cached_google_token() -> GoogleAccessToken:
    """``find_google_token`` once per process and environment: every store shares it."""
    key = tuple(os.environ.get(name, "") for name in GOOGLE_VARIABLES)
    with _found_lock:
        if key not in _found:
            _found[key] = find_google_token()
        return _found[key]


__all__ = [
    "GoogleAccessToken",
    "cached_google_token",
    "find_google_token",
    "is_google_endpoint",
]
