"""Exceptions raised on the Ray side; Airflow-side errors live in ``ray_provider.exceptions``."""

from __future__ import annotations


class RayProviderRuntimeError(RuntimeError):
    """Base class of errors raised inside the Ray cluster by this provider."""


class NestedObjectRefError(RayProviderRuntimeError):
    """A result still references objects owned by the worker process that created it."""


class UnserializableResultError(RayProviderRuntimeError):
    """A task returned a value that Ray cannot serialize."""


class ResultNotFoundError(RayProviderRuntimeError):
    """The registry holds no result under the key(s) (released, expired, or Ray restarted)."""

    def __init__(self, missing_keys: list[str]) -> None:
        super().__init__(f"no result in the registry for: {', '.join(missing_keys)}")
        self.missing_keys = list(missing_keys)


class ResultSupersededError(RayProviderRuntimeError):
    """The key now holds another try's result than the generation asked for."""

    def __init__(self, keys: list[str]) -> None:
        super().__init__(f"the result was replaced by a newer try: {', '.join(keys)}")
        self.superseded_keys = list(keys)


class RegistryRetiredError(RayProviderRuntimeError):
    """The registry handed over to a new one (started by ``ray_provider.cli.keeper``): resubmit."""


def missing_keys_of(exc: BaseException) -> list[str]:
    """The keys a ResultNotFoundError names, also when Ray wrapped it in a RayTaskError."""
    cause = getattr(exc, "cause", None) or exc
    return list(getattr(cause, "missing_keys", None) or getattr(exc, "missing_keys", []))


def superseded_keys_of(exc: BaseException) -> list[str]:
    """The keys a ResultSupersededError names, also when Ray wrapped it."""
    cause = getattr(exc, "cause", None) or exc
    return list(getattr(cause, "superseded_keys", None) or getattr(exc, "superseded_keys", []))


class CheckpointError(RayProviderRuntimeError):
    """Base class of checkpoint failures."""


class CheckpointStoreError(CheckpointError):
    """The S3 store could not be reached or refused an operation."""


class CheckpointCorruptError(CheckpointError):
    """A checkpoint part does not match the checksum or size in its manifest."""


class CheckpointAuthError(CheckpointError):
    """A manifest is not signed with the deployment's key, or not the one a reference pinned."""


class CheckpointMissingError(CheckpointError):
    """The checkpoint (its manifest or one of its parts) is not in the store."""


class CheckpointVersionError(CheckpointError):
    """The manifest was written by an incompatible version of the provider."""


class StoreCredentialsError(CheckpointError):
    """No credentials for the store: an STS call was refused or failed (never retried)."""


class StoreAccessDeniedError(CheckpointError):
    """The store refused the credentials (access denied, unknown key, expired token).

    An answer, not a failure to reach the store, so it is never retried; the message names the
    credential source that was used, so the user knows which key, role or token to fix.
    """
