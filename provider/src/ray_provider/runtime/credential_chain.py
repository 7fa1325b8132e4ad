"""The credentials a process finds for itself when its connection gives none (the AWS chain).

A connection without keys (and without ``role_arn``) leaves the choice to the side that does
the I/O, a Ray worker for checkpoints, looked up in the order of the AWS SDKs:

1. environment keys: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (+ ``AWS_SESSION_TOKEN``);
2. a web identity token file: ``AWS_WEB_IDENTITY_TOKEN_FILE`` + ``AWS_ROLE_ARN``, what EKS's
   IRSA puts into a pod (and what a GKE or AKS workload federated into AWS sets by hand),
   traded at STS (``AWS_ENDPOINT_URL_STS``, else the connection's STS endpoint, else AWS's
   regional one) for temporary keys;
3. container credentials: ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` (EKS Pod Identity, with
   ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE``) or ``..._RELATIVE_URI`` (ECS);
4. instance metadata (IMDSv2 at ``AWS_EC2_METADATA_SERVICE_ENDPOINT``, AWS's address by
   default), skipped when ``AWS_EC2_METADATA_DISABLED=true``; not answering within a second
   means "not on EC2";
5. nothing found: anonymous requests (a public bucket), and the source says what was looked at.

Temporary keys are fetched again ``REFRESH_MARGIN_SECONDS`` before they expire. minio asks its
credentials provider before every request, so a write that outlives its keys goes on with new
ones instead of failing half-way.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ray_provider.runtime import sts
from ray_provider.runtime.errors import StoreCredentialsError

# Fetch new temporary keys this long before the old ones expire.
REFRESH_MARGIN_SECONDS = 300.0
# How long the metadata services get to answer (they are on the local link when they exist).
METADATA_TIMEOUT_SECONDS = 1.0
IMDS_ENDPOINT = "http://169.254.169.254"
# The environment the chain reads (a change of any of them is a new lookup).
CHAIN_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_ENDPOINT_URL_STS",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
)
IMDS_TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
IMDS_TOKEN_HEADER = "X-aws-ec2-metadata-token"


@dataclass(frozen=True)
class FoundCredentials:
    """What the chain found: a minio credentials provider (``None``: anonymous), and its name."""

    provider: Any
    source: str


class RefreshingCredentials:
    """A minio credentials provider over temporary keys that fetches new ones before expiry.

    Thread-safe: the parts of one upload are sent from several threads.
    """

    def __init__(self, fetch: Callable[[], sts.TemporaryCredentials]):
        self._fetch = fetch
        self._lock = threading.Lock()
        self._current: sts.TemporaryCredentials | None = None
        self.fetches = 0

    def retrieve(self) -> Any:
        from minio.credentials import Credentials

        with self._lock:
            current = self._current
            if current is None or current.seconds_left() < REFRESH_MARGIN_SECONDS:
                current = self._current = self._fetch()
                self.fetches += 1
        expiration = datetime.fromtimestamp(current.expires_at, UTC).replace(tzinfo=None)
        return Credentials(
            current.access_key, current.secret_key, current.session_token, expiration
        )

    @property
    def expires_at(self) -> float | None:
        return self._current.expires_at if self._current is not None else None


_found: dict[tuple, FoundCredentials] = {}
_found_lock = threading.Lock()


def cached_credentials(region: str, sts_endpoint: str = "") -> FoundCredentials:
    """``find_credentials`` once per process and setting: every store of a worker shares the
    keys (one STS call, not one per operation) and their refresh."""
    key = (region, sts_endpoint, *(os.environ.get(name, "") for name in CHAIN_VARIABLES))
    with _found_lock:
        if key not in _found:
            _found[key] = find_credentials(region, sts_endpoint)
        return _found[key]


def find_credentials(
    region: str, sts_endpoint: str = "", environ: Mapping[str, str] | None = None
) -> FoundCredentials:
    """The first source of the chain (see the module docstring) that has credentials.

    ``sts_endpoint`` is where a web identity token is traded when ``AWS_ENDPOINT_URL_STS`` is
    not set. Raises ``StoreCredentialsError`` when a source is set up but broken (half a key
    pair, a token file without a role, a refused token): silently going on anonymously would
    hide the mistake behind an AccessDenied.
    """
    env = os.environ if environ is None else environ
    host = socket.gethostname()
    found = (
        _environment_keys(env)
        or _web_identity(env, region, sts_endpoint)
        or _container_credentials(env)
        or _instance_metadata(env)
    )
    if found is not None:
        return FoundCredentials(found.provider, f"{found.source} on {host}")
    metadata = (
        "disabled (AWS_EC2_METADATA_DISABLED)" if _metadata_disabled(env) else "did not answer"
    )
    return FoundCredentials(
        None,
        f"anonymous: the connection has no keys, and on {host} the AWS chain found none (no "
        "AWS_ACCESS_KEY_ID, no AWS_WEB_IDENTITY_TOKEN_FILE, no container credentials; "
        f"instance metadata {metadata})",
    )


def _environment_keys(env: Mapping[str, str]) -> FoundCredentials | None:
    from minio.credentials import StaticProvider

    access_key = env.get("AWS_ACCESS_KEY_ID", "")
    secret_key = env.get("AWS_SECRET_ACCESS_KEY", "")
    if not access_key and not secret_key:
        return None
    if not access_key or not secret_key:
        missing = "AWS_SECRET_ACCESS_KEY" if access_key else "AWS_ACCESS_KEY_ID"
        raise StoreCredentialsError(
            f"The environment has half an AWS key pair: {missing} is not set. Set both (and "
            "AWS_SESSION_TOKEN for temporary keys), or neither."
        )
    token = env.get("AWS_SESSION_TOKEN") or None
    kind = "temporary keys" if token else "keys"
    return FoundCredentials(
        StaticProvider(access_key, secret_key, token),
        f"environment {kind} AWS_ACCESS_KEY_ID={access_key!r}",
    )


def _web_identity(
    env: Mapping[str, str], region: str, sts_endpoint: str
) -> FoundCredentials | None:
    token_file = env.get("AWS_WEB_IDENTITY_TOKEN_FILE", "")
    if not token_file:
        return None
    role_arn = env.get("AWS_ROLE_ARN", "")
    if not role_arn:
        raise StoreCredentialsError(
            f"AWS_WEB_IDENTITY_TOKEN_FILE={token_file} is set but AWS_ROLE_ARN is not: set the "
            "role to assume (on EKS, the ServiceAccount's eks.amazonaws.com/role-arn annotation "
            "sets both)."
        )
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or region
    endpoint = env.get("AWS_ENDPOINT_URL_STS") or sts_endpoint or sts.sts_endpoint_for(region, None)
    session_name = env.get("AWS_ROLE_SESSION_NAME") or sts.DEFAULT_SESSION_NAME

    def fetch() -> sts.TemporaryCredentials:
        # Read each time: the kubelet rotates the projected token.
        token = _read_token(
            "the web identity token AWS_WEB_IDENTITY_TOKEN_FILE",
            token_file,
            ": check the pod's projected token volume",
        )
        return sts.assume_role_with_web_identity(
            endpoint, token, role_arn=role_arn, session_name=session_name, token_file=token_file
        )

    provider = RefreshingCredentials(fetch)
    provider.retrieve()  # a refused token is said now, not as an AccessDenied later
    return FoundCredentials(
        provider, f"web identity: role {role_arn!r} assumed at {endpoint} with {token_file}"
    )


def _container_credentials(env: Mapping[str, str]) -> FoundCredentials | None:
    full_uri = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
    relative_uri = env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "")
    if not full_uri and not relative_uri:
        return None
    url = full_uri or f"http://169.254.170.2/{relative_uri.lstrip('/')}"
    token_file = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "")
    what = f"container credentials from {url}"

    def fetch() -> sts.TemporaryCredentials:
        headers = {}
        token = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN", "")
        if token_file:
            token = _read_token(f"{what}: AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file)
        if token:
            headers["Authorization"] = token
        return _credentials_json(_get(url, headers, what), what)

    provider = RefreshingCredentials(fetch)
    provider.retrieve()
    return FoundCredentials(provider, what)


def _read_token(what: str, path: str, fix: str = "") -> str:
    """A token file's content (files, not values: Kubernetes rotates projected tokens)."""
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise StoreCredentialsError(
            f"Cannot read {what}={path} ({exc.strerror or exc}){fix}."
        ) from exc


def _instance_metadata(env: Mapping[str, str]) -> FoundCredentials | None:
    if _metadata_disabled(env):
        return None
    base = env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT", "").rstrip("/") or IMDS_ENDPOINT
    what = f"instance metadata at {base}"

    def fetch() -> sts.TemporaryCredentials:
        token = _request("PUT", f"{base}/latest/api/token", {IMDS_TTL_HEADER: "21600"}, what)
        headers = {IMDS_TOKEN_HEADER: token}
        roles = _get(f"{base}/latest/meta-data/iam/security-credentials/", headers, what)
        role = roles.splitlines()[0].strip() if roles.strip() else ""
        if not role:
            raise StoreCredentialsError(f"{what}: this instance has no IAM role attached.")
        url = f"{base}/latest/meta-data/iam/security-credentials/{role}"
        return _credentials_json(_get(url, headers, what), what)

    provider = RefreshingCredentials(fetch)
    try:
        provider.retrieve()
    except StoreCredentialsError:  # not on EC2, or no role attached: the chain ends anonymous
        return None
    return FoundCredentials(provider, what)


def _get(url: str, headers: dict[str, str], what: str) -> str:
    return _request("GET", url, headers, what)


def _request(method: str, url: str, headers: dict[str, str], what: str) -> str:
    import urllib3

    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=METADATA_TIMEOUT_SECONDS, read=5.0),
        retries=urllib3.Retry(total=1, connect=0, backoff_factor=0.1),
    )
    try:
        response = http.request(method, url, headers=headers)
    except Exception as exc:
        raise StoreCredentialsError(f"{what}: no answer ({type(exc).__name__}: {exc}).") from exc
    text = response.data.decode("utf-8", errors="replace")
    if response.status != 200:
        raise StoreCredentialsError(f"{what}: HTTP {response.status}: {text[:200]}")
    return text


def _credentials_json(text: str, what: str) -> sts.TemporaryCredentials:
    """The keys of a metadata service's JSON answer (the same shape for ECS, EKS and EC2)."""
    try:
        data = json.loads(text)
        if data.get("Code", "Success") != "Success":
            raise StoreCredentialsError(
                f"{what}: {data.get('Code')}: {data.get('Message', '(no message)')}"
            )
        expires = datetime.fromisoformat(data["Expiration"].replace("Z", "+00:00"))
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        return sts.TemporaryCredentials(
            access_key=data["AccessKeyId"],
            secret_key=data["SecretAccessKey"],
            session_token=data.get("Token") or data.get("SessionToken") or "",
            expires_at=expires.timestamp(),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StoreCredentialsError(
            f"{what}: the answer holds no credentials ({type(exc).__name__}: {exc})."
        ) from exc


def _metadata_disabled(env: Mapping[str, str]) -> bool:
    return env.get("AWS_EC2_METADATA_DISABLED", "").strip().lower() == "true"


__all__ = ["FoundCredentials", "RefreshingCredentials", "cached_credentials", "find_credentials"]
