"""The Ray Jobs API of a ``ray`` connection: submit, look at, follow and stop one job.

Ray Jobs are reached over HTTP on the dashboard port, not through a Ray connection, so this
client holds no ``ray.init`` and one process (the triggerer) may follow jobs on many clusters.
The token of the connection goes in an explicit ``Authorization`` header: Ray would otherwise
add one from whatever ``RAY_AUTH_*`` this process happens to have.

Airflow-free, like the rest of ``client/``: the operator and the trigger share it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ray_provider.client.job_log import JobLog
from ray_provider.client.settings import RaySettings
from ray_provider.exceptions import RayAuthError, RayConnectionConfigError, RayUnreachableError

log = logging.getLogger(__name__)

# Ray's JobStatus values that end a job.
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})


@dataclass
class JobOutcome:
    """How a job ended, with what a task needs of its log (never the whole log)."""

    job_id: str
    status: str
    message: str = ""
    tail: list[str] = field(default_factory=list)
    result_line: str | None = None

    def to_event(self) -> dict[str, Any]:
        """As a trigger event carries it (JSON-serialisable)."""
        return {
            "job_id": self.job_id,
            "status": self.status,
            "message": self.message,
            "tail": list(self.tail),
            "result_line": self.result_line,
        }

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> JobOutcome:
        return cls(
            job_id=str(event["job_id"]),
            status=str(event["status"]),
            message=str(event.get("message") or ""),
            tail=[str(line) for line in event.get("tail") or []],
            result_line=event.get("result_line"),
        )


def jobs_api_address(settings: RaySettings) -> str:
    """Where the Jobs API of the connection's cluster answers (the dashboard, seen from here)."""
    if settings.jobs_api_base:
        return settings.jobs_api_base
    if settings.mode == "builder":
        # A managed service's module resolves its own Jobs API (Ray's anyscale:// support).
        return settings.address
    raise RayConnectionConfigError(
        f"Connection {settings.conn_id!r}: no Ray Jobs API URL. Set the connection's "
        "jobs_api_url extra (e.g. http://ray-head:8265)."
    )


class RayJobs:
    """The Jobs API of one connection (see the module docstring).

    :param settings: the ``ray`` connection's settings; its dashboard is the Jobs API.
    :param client_factory: builds the ``JobSubmissionClient`` (tests pass a stand-in).
    """

    def __init__(
        self, settings: RaySettings, client_factory: Callable[..., Any] | None = None
    ) -> None:
        self.settings = settings
        self.address = jobs_api_address(settings)
        self._client_factory = client_factory
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> Any:
        if self._client_factory is None:
            from ray.job_submission import JobSubmissionClient

            factory: Callable[..., Any] = JobSubmissionClient
        else:
            factory = self._client_factory
        headers = {"Authorization": f"Bearer {self.settings.token}"} if self.settings.token else {}
        try:
            return factory(address=self.address, headers=headers)
        except Exception as exc:
            raise self._translate(exc, "reach") from exc

    def _translate(self, exc: Exception, doing: str) -> Exception:
        text = str(exc)
        name = type(exc).__name__
        where = f"the Ray Jobs API at {self.address} (connection {self.settings.conn_id!r})"
        if "Authentication" in name or "Authentication" in text or "401" in text or "403" in text:
            hint = (
                "the connection has no token (its password field is empty)"
                if not self.settings.token
                else "the connection's token (password field) is not the cluster's token"
            )
            return RayAuthError(
                f"{where} refused to {doing}: token authentication is on and {hint}. Put "
                f"the cluster's token in the connection's password field. ({text.splitlines()[0]})"
            )
        if isinstance(exc, ConnectionError) or "Failed to connect" in text:
            return RayUnreachableError(
                f"Could not {doing} {where}: {text.splitlines()[0] if text else name}. The Jobs "
                "API is served by the Ray dashboard (port 8265 on the head): check that the "
                "head runs its dashboard and that this URL is reachable from Airflow, or set "
                "the connection's dashboard_url extra."
            )
        return exc

    def submit(self, **job: Any) -> str:
        """``JobSubmissionClient.submit_job`` (entrypoint, submission_id, runtime_env, ...)."""
        try:
            return self.client.submit_job(**job)
        except Exception as exc:
            raise self._translate(exc, "submit a job to") from exc

    def status(self, job_id: str) -> tuple[str, str]:
        """The job's status and Ray's message about it."""
        try:
            info = self.client.get_job_info(job_id)
        except Exception as exc:
            raise self._translate(exc, f"read job {job_id} from") from exc
        return _status_name(info.status), str(info.message or "")

    def exists(self, job_id: str) -> bool:
        try:
            self.client.get_job_info(job_id)
        except RuntimeError as exc:
            if "does not exist" in str(exc) or "404" in str(exc):
                return False
            raise self._translate(exc, f"read job {job_id} from") from exc
        return True

    def stop(self, job_id: str) -> bool:
        """Ask Ray to stop the job; True if it was still running."""
        try:
            return bool(self.client.stop_job(job_id))
        except Exception as exc:
            raise self._translate(exc, f"stop job {job_id} at") from exc

    async def follow(
        self, job_id: str, job_log: JobLog, *, poll_seconds: float = 2.0
    ) -> JobOutcome:
        """Copy the job's log to ``job_log`` as it is written, until the job has ended.

        The log comes through Ray's websocket tail. Where that fails (a proxy that drops
        websockets), or closes while Ray still calls the job running, the log is polled
        instead and only its new part is handed on.
        """
        try:
            async for chunk in self.client.tail_job_logs(job_id):
                job_log.feed(chunk)
        except Exception as exc:
            log.warning(
                "Following the log of Ray job %s over a websocket failed (%s: %s); polling "
                "the log every %gs instead",
                job_id,
                type(exc).__name__,
                exc,
                poll_seconds,
            )
        while True:
            status, message = await asyncio.to_thread(self.status, job_id)
            if status in TERMINAL_STATUSES:
                break
            text = await asyncio.to_thread(self.client.get_job_logs, job_id)
            job_log.feed(text[job_log.received :])
            await asyncio.sleep(poll_seconds)
        if job_log.received == 0:
            # A job that ended before its tail opened: its log is read once, whole.
            job_log.feed(await asyncio.to_thread(self.client.get_job_logs, job_id))
        job_log.close()
        return JobOutcome(
            job_id=job_id,
            status=status,
            message=message,
            tail=job_log.tail(),
            result_line=job_log.result_line,
        )


def _status_name(status: Any) -> str:
    """``JobStatus.SUCCEEDED`` (an enum of str) or a plain string, as ``"SUCCEEDED"``."""
    return str(getattr(status, "value", status)).upper()
