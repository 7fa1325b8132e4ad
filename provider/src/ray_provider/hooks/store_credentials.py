"""Which keys the Ray side gets for the store, from an Airflow ``aws`` connection.

The connection's fields are read as Airflow's Amazon provider reads them, so one connection
serves both:

* keys: ``login``/``password``, or extra ``aws_access_key_id``/``aws_secret_access_key``, with
  extra ``aws_session_token`` when they are temporary;
* ``role_arn`` in the extra: the Airflow side assumes the role with those keys and hands Ray
  only the temporary keys (never the long-lived ones). ``external_id``, the session name and
  the duration come from extra ``assume_role_kwargs`` (``ExternalId``, ``RoleSessionName``,
  ``DurationSeconds``) or the flat extras ``external_id`` / ``role_session_name`` /
  ``role_duration_seconds``. The STS endpoint is extra ``sts_endpoint_url``, else
  ``service_config.sts.endpoint_url``, else the S3 ``endpoint_url`` (MinIO answers STS on its
  own URL), else AWS's regional one;
* no keys and no role: the process that does the I/O (a Ray worker, for checkpoints) finds
  its own with the AWS chain (``runtime.credential_chain``: environment, a web identity token
  file, container or instance metadata), anonymous when there are none (a public bucket); for
  GCS (``endpoint_url`` on storage.googleapis.com) with Google's instead (``runtime.
  google_token``: GKE Workload Identity, a service account key, workload identity
  federation). Extra ``credential_chain`` (``auto``, ``aws``, ``google``) overrides the choice,
  e.g. for GCS behind a Private Service Connect endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ray_provider.exceptions import CheckpointConfigError
from ray_provider.runtime import sts

# Extra ``credential_chain``: which chain a keyless connection's store uses, as messages name it.
CHAIN_NAMES = {
    "auto": "the credential chain",
    "aws": "the AWS credential chain",
    "google": "the Google credential chain",
}
CHAIN_KINDS = tuple(CHAIN_NAMES)


@dataclass(frozen=True)
class StoreCredentials:
    """What a ``StoreConfig`` carries to Ray: keys (maybe temporary) and where they came from."""

    access_key: str | None
    secret_key: str | None
    session_token: str | None
    expires_at: float | None
    source: str
    # No keys here: the side that does the I/O looks them up (the AWS or Google chain).
    chain: bool = False
    chain_kind: str = "auto"
    # Where STS is, for the role here or a web identity token there.
    sts_endpoint: str = ""

    def __repr__(self) -> str:  # never print the secrets
        return f"StoreCredentials(access_key={self.access_key!r}, source={self.source!r})"


def credentials_from_connection(
    conn_id: str, login: str | None, password: str | None, extra: dict[str, Any], region: str
) -> StoreCredentials:
    """The credentials the connection describes (see the module docstring).

    Raises ``CheckpointConfigError`` for a role without keys to assume it with, and
    ``StoreCredentialsError`` (naming the role, the endpoint and STS's answer) when STS refuses.
    """
    access_key = login or extra.get("aws_access_key_id") or None
    secret_key = password or extra.get("aws_secret_access_key") or None
    session_token = extra.get("aws_session_token") or None
    if bool(access_key) != bool(secret_key):
        given, missing = ("login", "password") if access_key else ("password", "login")
        raise CheckpointConfigError(
            f"Connection {conn_id!r} has a {given} (access key / secret key) but no {missing}: "
            "set both, or neither to use the credentials of the machine that does the I/O."
        )
    endpoint = sts_endpoint_of(extra, region)
    role_arn = extra.get("role_arn")
    if role_arn:
        return _assumed_role(
            conn_id, access_key, secret_key, session_token, extra, region, endpoint
        )
    if access_key:
        kind = "temporary keys (with a session token)" if session_token else "keys"
        return StoreCredentials(
            access_key,
            secret_key,
            session_token,
            None,
            f"the {kind} of connection {conn_id!r} (access key {access_key!r})",
            sts_endpoint=endpoint,
        )
    chain_kind = str(extra.get("credential_chain") or "auto")
    if chain_kind not in CHAIN_KINDS:
        raise CheckpointConfigError(
            f"Connection {conn_id!r}, extra credential_chain={chain_kind!r}: expected one of "
            f"{', '.join(CHAIN_KINDS)} (auto: Google's for storage.googleapis.com, else AWS's)."
        )
    return StoreCredentials(
        None,
        None,
        None,
        None,
        f"{CHAIN_NAMES[chain_kind]} of the machine doing the I/O (connection {conn_id!r} has "
        "no keys)",
        chain=True,
        chain_kind=chain_kind,
        sts_endpoint=endpoint,
    )


def sts_endpoint_of(extra: dict[str, Any], region: str) -> str:
    """Extra ``sts_endpoint_url``, else ``service_config.sts.endpoint_url``, else the S3
    ``endpoint_url`` (MinIO answers STS there), else AWS's regional STS."""
    service_config = extra.get("service_config") or {}
    sts_config = service_config.get("sts") if isinstance(service_config, dict) else None
    return str(
        extra.get("sts_endpoint_url")
        or (sts_config or {}).get("endpoint_url")
        or sts.sts_endpoint_for(region, extra.get("endpoint_url"))
    )


def _assumed_role(
    conn_id: str,
    access_key: str | None,
    secret_key: str | None,
    session_token: str | None,
    extra: dict[str, Any],
    region: str,
    endpoint: str,
) -> StoreCredentials:
    role_arn = str(extra["role_arn"])
    if not access_key or not secret_key:
        raise CheckpointConfigError(
            f"Connection {conn_id!r} names role_arn={role_arn!r} but no keys to assume it with: "
            "set its login/password (the keys allowed to assume the role)."
        )
    kwargs = extra.get("assume_role_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise CheckpointConfigError(
            f"Connection {conn_id!r}, extra 'assume_role_kwargs'={kwargs!r}: expected an object "
            'such as {"ExternalId": "..."}.'
        )
    duration = _duration(conn_id, kwargs.get("DurationSeconds", extra.get("role_duration_seconds")))
    temporary = sts.assume_role(
        endpoint,
        access_key,
        secret_key,
        role_arn=role_arn,
        session_name=str(
            kwargs.get("RoleSessionName")
            or extra.get("role_session_name")
            or sts.DEFAULT_SESSION_NAME
        ),
        external_id=kwargs.get("ExternalId") or extra.get("external_id"),
        duration_seconds=duration,
        region=region,
        session_token=session_token,
    )
    return StoreCredentials(
        temporary.access_key,
        temporary.secret_key,
        temporary.session_token,
        temporary.expires_at,
        f"role {role_arn!r} assumed at {endpoint} by connection {conn_id!r} "
        f"(temporary access key {temporary.access_key!r})",
        sts_endpoint=endpoint,
    )


def _duration(conn_id: str, raw: Any) -> int:
    if raw in (None, ""):
        return sts.DEFAULT_DURATION_SECONDS
    try:
        seconds = int(raw)
    except (TypeError, ValueError):
        seconds = -1
    if seconds < sts.MIN_DURATION_SECONDS or isinstance(raw, bool):
        raise CheckpointConfigError(
            f"Connection {conn_id!r}: DurationSeconds={raw!r} (assume_role_kwargs or "
            f"role_duration_seconds): expected whole seconds, at least {sts.MIN_DURATION_SECONDS} "
            f"(default {sts.DEFAULT_DURATION_SECONDS})."
        )
    return seconds


__all__ = ["StoreCredentials", "credentials_from_connection", "sts_endpoint_of"]
