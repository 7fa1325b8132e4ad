"""The two decisions a deferrable ``@task.ray`` makes before it hands its wait to a trigger.

Airflow stops counting ``execution_timeout`` once a task defers, so the deferral gets what is
left of it as its own timeout; when that passes the task resumes to fail, and the operator
cancels the Ray task (``RayDecoratedOperator.resume_execution``). And the task waits a few
seconds for its Ray task to start, so its "Ray dashboard" link exists while it runs (only the
task process can publish it; the triggerer cannot write XCom).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from ray_provider.client.live_log import LiveLog
from ray_provider.client.reference import RayResultRef
from ray_provider.client.results import RayResults

# How long a deferrable task waits for its Ray task to start before deferring anyway.
START_WAIT_SECONDS = 10.0
START_POLL_SECONDS = 0.25


def deferral_timeout(
    execution_timeout: timedelta | None, started: datetime | None
) -> timedelta | None:
    """What is left of ``execution_timeout`` since the try started (at least one second)."""
    if execution_timeout is None:
        return None
    if started is None:
        return execution_timeout
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    left = execution_timeout - (datetime.now(UTC) - started)
    return max(left, timedelta(seconds=1))


def wait_for_start(results: RayResults, slot: RayResultRef, live: LiveLog) -> bool:
    """Whether the Ray task started (``live`` heard its id and logged its output so far).

    Gives up after ``START_WAIT_SECONDS`` (the task waits for resources) or when the task
    already ended; the link is then published when the task resumes.
    """
    deadline = time.monotonic() + START_WAIT_SECONDS
    while time.monotonic() < deadline:
        results.read_output(slot.key, slot.generation, live)
        if live.ray_task_id:
            return True
        if results.status(slot) != "running":
            return False
        time.sleep(START_POLL_SECONDS)
    return False


__all__ = ["deferral_timeout", "wait_for_start"]
