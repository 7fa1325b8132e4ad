"""The trigger a deferred ``@task.ray`` waits in: polls the registry, copies the task's output.

``@task.ray(deferrable=True)`` submits its callable, then hands the wait to the triggerer, so a
long training holds no worker slot. This trigger asks the result registry about the try every
``poll_seconds`` and writes the callable's new output to the task log as it arrives (the
triggerer routes a trigger's log records to its task's log). It fires once the Ray task has
ended, or is gone, with the output cursor it reached, so the resumed task logs only the rest.

Ray allows one cluster per process, so every deferred ``@task.ray`` of one triggerer must use
connections to the same Ray cluster; a second one fails with an error that says so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.sdk import BaseHook
from airflow.triggers.base import BaseTrigger, TriggerEvent

from ray_provider.client.deployment import current as current_deployment
from ray_provider.client.live_log import LiveLog
from ray_provider.client.reference import RayResultRef
from ray_provider.client.results import BUSY_OUTPUT_CHARS, BUSY_POLL_SECONDS, RayResults
from ray_provider.client.settings import settings_from_connection
from ray_provider.config_options import DEFAULT_DEFERRABLE_POLL_SECONDS


class RayTaskTrigger(BaseTrigger):
    """Fires when one try's Ray task has ended (see the module docstring).

    :param ref: the try's reference as ``RayResultRef.to_xcom()`` writes it (unsigned is
        fine: it only names the registry entry, and the resumed task checks the rest).
    :param cursor: output already logged by the task before it deferred.
    :param partial: the unfinished line of each stream at ``cursor`` (``LiveLog.partial``).
    """

    def __init__(
        self,
        ref: dict[str, Any],
        cursor: int = 0,
        partial: dict[str, str] | None = None,
        poll_seconds: float = DEFAULT_DEFERRABLE_POLL_SECONDS,
    ) -> None:
        super().__init__()
        self.ref = ref
        self.cursor = cursor
        self.partial = dict(partial or {})
        self.poll_seconds = poll_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "ref": self.ref,
                "cursor": self.cursor,
                "partial": self.partial,
                "poll_seconds": self.poll_seconds,
            },
        )

    async def _results(self, ref: RayResultRef) -> RayResults:
        conn = await BaseHook.aget_connection(ref.ray_conn_id)
        settings = settings_from_connection(conn, ref.ray_conn_id).on_cluster(ref.ray_address)
        return RayResults(settings, ref.ray_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        ref = RayResultRef.from_xcom(self.ref)
        if ref is None:
            raise ValueError("RayTaskTrigger: 'ref' is not a @task.ray reference")
        # Its kwargs come back from the database: only this deployment's references are read.
        ref.check_in_run(current_deployment(), ref.dag_id, ref.run_id)
        results = await self._results(ref)
        live = LiveLog(self._log_line, cursor=self.cursor, partial=dict(self.partial))
        started = time.monotonic()
        while True:
            before = live.cursor
            status = await asyncio.to_thread(self._poll, results, ref, live)
            if status != "running":
                self.log.info(
                    "Ray task of %s is %s after %.0fs in the triggerer",
                    ref.label,
                    status,
                    time.monotonic() - started,
                )
                yield TriggerEvent({"status": status, **live.state()})
                return
            # A chatty task: look again soon, before the registry's output buffer fills.
            busy = live.cursor - before >= BUSY_OUTPUT_CHARS
            await asyncio.sleep(BUSY_POLL_SECONDS if busy else self.poll_seconds)

    @staticmethod
    def _poll(results: RayResults, ref: RayResultRef, live: LiveLog) -> str:
        """One look at the try (blocking Ray calls, run in a thread)."""
        status = results.status(ref)
        if status == "running":
            results.read_output(ref.key, ref.generation, live)
        return status

    def _log_line(self, stream: str, line: str) -> None:
        self.log.info("[ray %s] %s", stream, line)
