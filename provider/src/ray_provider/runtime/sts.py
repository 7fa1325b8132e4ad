"""Temporary credentials from an STS endpoint (AWS STS, or MinIO's, which speaks the same API).

A connection with ``role_arn`` never hands its long-lived keys to Ray: the Airflow side calls
``AssumeRole`` with them and the Ray task gets only the temporary keys, their session token and
when they expire. minio-py has an ``AssumeRoleProvider``, but on a refusal it keeps only the
HTTP status; a user whose role trust policy is wrong needs the STS answer itself
(``AccessDenied: User ... is not authorized to perform sts:AssumeRole``), so this module sends
the request with minio's SigV4 signer and reads the answer, error or not, itself.

No Airflow here (``runtime`` never imports it): the same call can run on a Ray worker.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

from ray_provider.runtime.errors import StoreCredentialsError

STS_VERSION = "2011-06-15"
# AWS's default for AssumeRole, and the most a role chained from another role may ask for.
DEFAULT_DURATION_SECONDS = 3600
# The least STS accepts.
MIN_DURATION_SECONDS = 900
# The session name when the connection (or AWS_ROLE_SESSION_NAME) gives none: in CloudTrail.
DEFAULT_SESSION_NAME = "airflow-ray-provider"
_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"


@dataclass(frozen=True)
class TemporaryCredentials:
    """Keys that stop working at ``expires_at`` (seconds since the epoch)."""

    access_key: str
    secret_key: str
    session_token: str
    expires_at: float

    def __repr__(self) -> str:  # never print the secrets
        return f"TemporaryCredentials(access_key={self.access_key!r}, expires_at={self.expires_at})"

    def seconds_left(self, now: float | None = None) -> float:
        return self.expires_at - (time.time() if now is None else now)


def sts_endpoint_for(region: str, s3_endpoint_url: str | None) -> str:
    """Where to ask for credentials when the connection names no STS endpoint.

    An S3-compatible server given as ``endpoint_url`` (MinIO) answers STS on the same URL;
    AWS S3 has a regional STS endpoint.
    """
    if s3_endpoint_url:
        return s3_endpoint_url.rstrip("/")
    suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
    return f"https://sts.{region}{suffix}"


def assume_role(
    sts_endpoint: str,
    access_key: str,
    secret_key: str,
    *,
    role_arn: str,
    session_name: str,
    external_id: str | None = None,
    duration_seconds: int = DEFAULT_DURATION_SECONDS,
    region: str = "us-east-1",
    session_token: str | None = None,
    timeout_seconds: float = 10.0,
) -> TemporaryCredentials:
    """Call ``AssumeRole`` with the given keys; raises ``StoreCredentialsError`` saying why not.

    The error names the endpoint, the role and STS's own code and message; the secret never
    appears in it.
    """
    from minio.credentials import Credentials
    from minio.helpers import sha256_hash
    from minio.signer import sign_v4_sts
    from minio.time import to_amz_date, utcnow

    params = {
        "Action": "AssumeRole",
        "Version": STS_VERSION,
        "RoleArn": role_arn,
        "RoleSessionName": session_name,
        "DurationSeconds": str(duration_seconds),
    }
    if external_id:
        params["ExternalId"] = external_id
    body = urlencode(params)
    url = urlsplit(sts_endpoint)
    what = f"AssumeRole of {role_arn!r} at {sts_endpoint} with access key {access_key!r}"
    if url.scheme not in ("http", "https") or not url.netloc:
        raise StoreCredentialsError(
            f"{what}: the STS endpoint is not an http(s) URL; set extra 'sts_endpoint_url', "
            "e.g. https://sts.eu-west-1.amazonaws.com."
        )
    host = url.netloc
    if (url.scheme, url.port) in (("http", 80), ("https", 443)):
        host = url.hostname or host
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Host": host,
        "X-Amz-Date": to_amz_date(now := utcnow()),
    }
    if session_token:
        headers["X-Amz-Security-Token"] = session_token
    signed = sign_v4_sts(
        method="POST",
        url=url,
        region=region,
        headers=headers,
        credentials=Credentials(access_key, secret_key, session_token),
        content_sha256=sha256_hash(body),
        date=now,
    )
    return _post(
        sts_endpoint,
        body,
        signed,
        what,
        timeout_seconds,
        "Check that the connection's keys may assume the role (its trust policy, and extra "
        "'external_id' if the role asks for one).",
    )


def assume_role_with_web_identity(
    sts_endpoint: str,
    token: str,
    *,
    role_arn: str,
    session_name: str,
    token_file: str = "",
    duration_seconds: int = DEFAULT_DURATION_SECONDS,
    timeout_seconds: float = 10.0,
) -> TemporaryCredentials:
    """Trade a pod's identity token (IRSA, or another OIDC federation) for temporary keys.

    The request is not signed: the token is the proof. Raises ``StoreCredentialsError`` with
    the role, the token file, the endpoint and STS's answer; the token never appears in it.
    """
    body = urlencode(
        {
            "Action": "AssumeRoleWithWebIdentity",
            "Version": STS_VERSION,
            "RoleArn": role_arn,
            "RoleSessionName": session_name,
            "WebIdentityToken": token,
            "DurationSeconds": str(duration_seconds),
        }
    )
    source = f" with the token in {token_file}" if token_file else ""
    what = f"AssumeRoleWithWebIdentity of {role_arn!r} at {sts_endpoint}{source}"
    url = urlsplit(sts_endpoint)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise StoreCredentialsError(
            f"{what}: the STS endpoint is not an http(s) URL; set AWS_ENDPOINT_URL_STS or the "
            "connection's extra 'sts_endpoint_url'."
        )
    return _post(
        sts_endpoint,
        body,
        {"Content-Type": "application/x-www-form-urlencoded"},
        what,
        timeout_seconds,
        "Check the role's trust policy (the identity provider, and the service account in "
        "its 'sub' condition) and that the token is not expired.",
    )


def _post(
    endpoint: str, body: str, headers: dict, what: str, timeout_seconds: float, fix: str
) -> TemporaryCredentials:
    """One STS request; its credentials, or an error with STS's own code and message."""
    import urllib3

    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=timeout_seconds, read=timeout_seconds),
        retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[502, 503, 504]),
    )
    try:
        response = http.request("POST", endpoint, body=body, headers=headers)
    except Exception as exc:
        raise StoreCredentialsError(
            f"{what}: cannot reach the STS endpoint ({type(exc).__name__}: {exc}). Check "
            "extra 'sts_endpoint_url' (or 'endpoint_url', which MinIO's STS shares)."
        ) from exc
    text = response.data.decode("utf-8", errors="replace")
    if response.status != 200:
        code, message = _error_of(text)
        raise StoreCredentialsError(
            f"{what} was refused (HTTP {response.status}, {code}: {message}). {fix}"
        )
    return _credentials_of(text, what)


def _error_of(text: str) -> tuple[str, str]:
    """STS's error code and message, from its XML answer (or the start of whatever came)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return "no STS error document", text[:200] or "(empty answer)"
    code = root.find(f".//{_NS}Code")
    message = root.find(f".//{_NS}Message")
    if code is None:  # some servers leave the namespace out
        code, message = root.find(".//Code"), root.find(".//Message")
    return (
        (code.text or "").strip() if code is not None else "UnknownError",
        (message.text or "").strip() if message is not None else text[:200],
    )


def _credentials_of(text: str, what: str) -> TemporaryCredentials:
    try:
        root = ET.fromstring(text)
        node = root.find(f".//{_NS}Credentials")
        if node is None:
            node = root.find(".//Credentials")
        fields = {child.tag.removeprefix(_NS): (child.text or "") for child in node}
        expires = datetime.fromisoformat(fields["Expiration"].replace("Z", "+00:00"))
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        return TemporaryCredentials(
            access_key=fields["AccessKeyId"],
            secret_key=fields["SecretAccessKey"],
            session_token=fields["SessionToken"],
            expires_at=expires.timestamp(),
        )
    except (ET.ParseError, TypeError, KeyError, ValueError) as exc:
        raise StoreCredentialsError(
            f"{what}: the answer holds no credentials ({type(exc).__name__}: {exc})"
        ) from exc


__all__ = [
    "DEFAULT_DURATION_SECONDS",
    "DEFAULT_SESSION_NAME",
    "MIN_DURATION_SECONDS",
    "TemporaryCredentials",
    "assume_role",
    "assume_role_with_web_identity",
    "sts_endpoint_for",
]
