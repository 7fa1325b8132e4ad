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
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ray_provider.client.job_log import JobLog
from ray_provider.client.settings import RaySettings
from ray_provider.exceptions import RayAuthError, RayUnreachableError

log = logging.getLogger(__name__)

# Ray's JobStatus values that end a job.
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
# How long a job is followed through an outage of its Jobs API before its task gives up.
OUTAGE_SECONDS = 300.0


@dataclass
class JobOutcome:
    """How a job ended, with what a task needs of its log (never the whole log)."""

    job_id: str
    status: str
    message: str = ""
    tail: list[str] = field(default_factory=list)
    result_line: str | None = None
    last_line: str | None = None

    def to_event(self) -> dict[str, Any]:
        """As a trigger event carries it (JSON-serialisable)."""
        return {
            "job_id": self.job_id,
            "status": self.status,
            "message": self.message,
            "tail": list(self.tail),
            "result_line": self.result_line,
            "last_line": self.last_line,
        }

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> JobOutcome:
        return cls(
            job_id=str(event["job_id"]),
            status=str(event["status"]),
            message=str(event.get("message") or ""),
            tail=[str(line) for line in event.get("tail") or []],
            result_line=event.get("result_line"),
            last_line=event.get("last_line"),
        )


def jobs_api_address(settings: RaySettings) -> str:
    """Where the Jobs API of the connection's cluster answers (the dashboard, seen from here).

    A ``MODULE://`` address with no ``jobs_api_url`` goes to Ray as it is: a managed service's
    module resolves its own Jobs API (Ray's ``anyscale://`` support).
    """
    return settings.jobs_api_base or settings.address


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
        # Always an Authorization header of our own: without one Ray adds the token this
        # process happens to hold (another cluster's, set by an earlier connection). An empty
        # one reads as "no token" where auth is on and is ignored where it is off.
        token = self.settings.token
        headers = {"Authorization": f"Bearer {token}" if token else ""}
        try:
            return factory(address=self.address, headers=headers)
        except Exception as exc:
            raise self._translate(exc, "reach") from exc

    def _translate(self, exc: Exception, doing: str) -> Exception:
        text = str(exc)
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        where = f"the Ray Jobs API at {self.address} (connection {self.settings.conn_id!r})"
        if "AuthenticationError" in type(exc).__name__ or first.startswith("Authentication "):
            return RayAuthError(
                f"{where} refused to {doing}: token authentication is on and "
                f"{self.settings.token_hint}. Put the cluster's token in the connection's "
                f"password field. ({first})"
            )
        if isinstance(exc, ConnectionError) or "Failed to connect" in text:
            return RayUnreachableError(
                f"Could not {doing} {where}: {first}. The Jobs API is served by the Ray "
                "dashboard (port 8265 on the head): check that the head runs its dashboard and "
                "that this URL is reachable from Airflow, or set the connection's jobs_api_url "
                "extra."
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

    def jobs_labelled(self, labels: dict[str, str]) -> list[tuple[str, str]]:
        """``(submission id, status)`` of every job whose metadata has all of ``labels``."""
        try:
            details = self.client.list_jobs()
        except Exception as exc:
            raise self._translate(exc, "list the jobs of") from exc
        return [
            (str(job.submission_id), _status_name(job.status))
            for job in details
            if job.submission_id
            and all((job.metadata or {}).get(key) == value for key, value in labels.items())
        ]

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
        instead and only its new part is handed on. A dashboard that does not answer for a
        while (restarting, an ingress's 502) is asked again for up to ``OUTAGE_SECONDS``.
        """
        streamed = True
        try:
            async for chunk in self.client.tail_job_logs(job_id):
                job_log.feed(chunk)
        except Exception as exc:
            streamed = False
            log.warning(
                "Following the log of Ray job %s over a websocket failed (%s: %s); polling "
                "the log every %gs instead",
                job_id,
                type(exc).__name__,
                exc,
                poll_seconds,
            )
        while True:
            status, message = await self._patiently(lambda: self.status(job_id))
            if status in TERMINAL_STATUSES:
                break
            streamed = False
            await self._read_rest(job_id, job_log)
            await asyncio.sleep(poll_seconds)
        if not streamed or job_log.received == 0:
            # What was written after the last read (or all of it: the job ended at once).
            await self._read_rest(job_id, job_log)
        job_log.close()
        return JobOutcome(
            job_id=job_id,
            status=status,
            message=message,
            tail=job_log.tail(),
            result_line=job_log.result_line,
            last_line=job_log.last_line,
        )

    async def _read_rest(self, job_id: str, job_log: JobLog) -> None:
        text = await self._patiently(lambda: self.client.get_job_logs(job_id))
        job_log.feed(text[job_log.received :])

    async def _patiently(self, call: Callable[[], Any]) -> Any:
        """``call()`` in a thread, again with backoff while the Jobs API does not answer."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + OUTAGE_SECONDS
        delay = 1.0
        while True:
            try:
                return await asyncio.to_thread(call)
            except Exception as exc:
                if not _transient(exc) or loop.time() + delay > deadline:
                    raise
                log.warning(
                    "The Ray Jobs API at %s did not answer (%s); asking again in %.0fs",
                    self.address,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)


def _transient(exc: Exception) -> bool:
    """A dashboard that is down or restarting, not one that refuses."""
    if isinstance(exc, (RayUnreachableError, ConnectionError, TimeoutError)):
        return True
    return bool(re.search(r"status code 5\d\d", str(exc)))


def _status_name(status: Any) -> str:
    """``JobStatus.SUCCEEDED`` (an enum of str) or a plain string, as ``"SUCCEEDED"``."""
    return str(getattr(status, "value", status)).upper()
