"""The trigger a deferred ``RaySubmitJobOperator`` waits in: follows the job's log to its end.

The triggerer routes a trigger's log records to its task's log, so the job's lines appear
there while it runs, as they do when the task waits in place. It fires once with how the job
ended and the end of its log (``JobOutcome``); the resumed task only decides success or failure.
Jobs are plain HTTP, so one triggerer follows jobs on any number of clusters.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.sdk import BaseHook
from airflow.triggers.base import BaseTrigger, TriggerEvent

from ray_provider.client.job_log import JobLog
from ray_provider.client.jobs import RayJobs
from ray_provider.client.run_cluster import resolve_signed
from ray_provider.client.settings import settings_from_connection
from ray_provider.config_options import DEFAULT_DEFERRABLE_POLL_SECONDS


class RayJobTrigger(BaseTrigger):
    """Fires when the Ray job ``job_id`` of connection ``ray_conn_id`` has ended."""

    def __init__(
        self,
        ray_conn_id: str,
        job_id: str,
        poll_seconds: float = DEFAULT_DEFERRABLE_POLL_SECONDS,
        ray_cluster: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        # A per-run cluster's signed handle (checked again here: it came from the database).
        self.ray_cluster = ray_cluster
        self.ray_conn_id = ray_conn_id
        self.job_id = job_id
        self.poll_seconds = poll_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "ray_conn_id": self.ray_conn_id,
                "job_id": self.job_id,
                "poll_seconds": self.poll_seconds,
                "ray_cluster": self.ray_cluster,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        conn = await BaseHook.aget_connection(self.ray_conn_id)
        settings = settings_from_connection(conn, self.ray_conn_id)
        cluster = resolve_signed(self.ray_cluster)
        if cluster:
            settings = settings.on_cluster(*cluster)
        jobs = RayJobs(settings)
        await asyncio.to_thread(lambda: jobs.client)  # its constructor asks the server
        outcome = await jobs.follow(
            self.job_id, JobLog(self._log_line), poll_seconds=self.poll_seconds
        )
        self.log.info("Ray job %s is %s", self.job_id, outcome.status)
        yield TriggerEvent(outcome.to_event())

    def _log_line(self, line: str) -> None:
        self.log.info("[ray job] %s", line)
