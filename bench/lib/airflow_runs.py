"""What a finished DAG run tells a benchmark: task times, log events, stored XCom sizes.

Times come from Airflow itself (task instance start/end, structured log timestamps) and from
``BENCH {...}`` lines that benchmark callables print; all are wall-clock seconds on this one
machine, so they can be subtracted from each other.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from devstack.airflow_stack import AirflowStack

BENCH_PREFIX = "BENCH "
RAY_FINISHED = re.compile(r"Ray task finished in .* \(pid (\d+)\)")


def epoch(value: str | None) -> float | None:
    """An Airflow ISO timestamp (``...Z``) as seconds since the epoch."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def task_times(stack: AirflowStack, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
    """Per task: state, queued/start/end (epoch seconds) and duration."""
    times = {}
    for task_id, ti in stack.task_instances(dag_id, run_id).items():
        times[task_id] = {
            "state": ti["state"],
            "queued": epoch(ti.get("queued_when")),
            "start": epoch(ti.get("start_date")),
            "end": epoch(ti.get("end_date")),
            "duration": ti.get("duration"),
        }
    return times


def run_times(stack: AirflowStack, dag_id: str, run_id: str) -> dict[str, float | None]:
    run = stack.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
    start, end = epoch(run.get("start_date")), epoch(run.get("end_date"))
    return {
        "queued": epoch(run.get("queued_at")),
        "start": start,
        "end": end,
        "duration": (end - start) if start and end else None,
    }


def log_events(
    stack: AirflowStack, dag_id: str, run_id: str, task_id: str, try_number: int = 1
) -> list[dict[str, Any]]:
    """The task's structured log events (each with its ``timestamp``)."""
    data = stack.api(
        "GET",
        f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
        params={"full_content": "true"},
    )
    return [item for item in data.get("content", []) if isinstance(item, dict)]


def event_time(events: list[dict[str, Any]], starts_with: str) -> float | None:
    """Timestamp of the first log event whose text starts with ``starts_with``."""
    for event in events:
        if str(event.get("event", "")).startswith(starts_with):
            return epoch(event.get("timestamp"))
    return None


def ray_worker_pid(events: list[dict[str, Any]]) -> int | None:
    """The pid of the Ray worker that ran a ``@task.ray`` callable (from the operator's log)."""
    for event in events:
        match = RAY_FINISHED.search(str(event.get("event", "")))
        if match:
            return int(match.group(1))
    return None


def bench_record(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The ``BENCH {...}`` line a callable printed (directly or relayed from a Ray worker)."""
    for event in events:
        text = str(event.get("event", ""))
        at = text.find(BENCH_PREFIX)
        if at >= 0:
            return json.loads(text[at + len(BENCH_PREFIX) :])
    return None


def failure_reason(events: list[dict[str, Any]]) -> str:
    """The error a failed task logged, in one line."""
    for event in reversed(events):
        if event.get("level") != "error":
            continue
        for detail in event.get("error_detail") or []:
            if detail.get("exc_type"):
                return f"{detail['exc_type']}: {detail.get('exc_value', '')}"[:300]
        return str(event.get("event", ""))[:300]
    return "failed (no error in the log)"


def xcom_sizes(sqlite_path: Path, dag_id: str, run_id: str) -> dict[str, int]:
    """Bytes of each task's XCom row as the metadata database stores it."""
    with sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            "SELECT task_id, length(value) FROM xcom WHERE dag_id = ? AND run_id = ?",
            (dag_id, run_id),
        ).fetchall()
    return {task_id: int(size or 0) for task_id, size in rows}
