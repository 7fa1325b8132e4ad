"""Errors raised on the Airflow side. Each message says what was tried and how to fix it."""

from __future__ import annotations

from airflow.exceptions import AirflowException


class RayProviderError(AirflowException):
    """Base class of this provider's errors in Airflow."""


class RayConnectionNotFoundError(RayProviderError):
    """The ``ray_conn_id`` names no Airflow connection."""


class RayConnectionConfigError(RayProviderError):
    """A field of the Ray connection has a value that cannot work."""


class RayUnreachableError(RayProviderError):
    """Nothing answers at the Ray address."""


class RayAuthError(RayProviderError):
    """The cluster has token authentication on and refused our token (or the lack of one)."""


class RayVersionMismatchError(RayProviderError):
    """Client and cluster run different Ray or Python versions."""


class RayResultLostError(RayProviderError):
    """An upstream result is no longer in Ray (released, expired, or Ray was restarted)."""


class RayResultSupersededError(RayProviderError):
    """The upstream result was replaced by a newer try since the reference was made."""


class RayReferenceError(RayProviderError):
    """An XCom reference is malformed, unsigned, or belongs to another deployment or run."""


class RayDeploymentKeyError(RayProviderError):
    """The deployment key is missing (where it is required) or too weak."""


class RayResourceError(RayProviderError):
    """The task asks for more than the cluster can hold, or waited too long for it."""


class RayRemoteTaskError(RayProviderError):
    """The callable failed on Ray with an exception that cannot be re-raised as itself."""


class RayArgumentError(RayProviderError):
    """An argument of the callable cannot be sent to Ray."""


class CheckpointConfigError(RayProviderError):
    """The checkpoint connection or path cannot work (missing bucket, bad endpoint, ...)."""


class CheckpointWriteError(RayProviderError):
    """The checkpoint could not be written; the result is still in Ray."""


class CheckpointRestoreError(RayProviderError):
    """A lost result could not be restored from its checkpoint."""


class RayJobFailedError(RayProviderError):
    """A Ray job ended FAILED or STOPPED; the message carries the end of its log."""


class RayJobResultError(RayProviderError):
    """A Ray job's JSON result is missing, malformed or too large for XCom."""


class RayClusterTemplateError(RayProviderError):
    """A per-run cluster's RayCluster template is missing, malformed or does not match."""


class RayClusterApiError(RayProviderError):
    """The Kubernetes API refused or failed a per-run cluster request."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        # The HTTP status of the API's answer (409: exists), None when none came.
        self.status = status


class RayClusterNotReadyError(RayProviderError):
    """A per-run cluster did not become ready in time, or KubeRay reported it failed."""
