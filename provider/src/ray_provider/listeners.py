"""Release a DAG run's Ray results when the run ends (success or failure).

Runs in the scheduler, which decides run states. It finds the run's ``@task.ray`` references in
its XComs (so it contacts only the Ray connections the run used, and nothing at all for runs
without Ray tasks) and asks each registry to drop the run's results. The Ray call happens in a
child process (``python -m ray_provider.cli.release``), never in the scheduler itself: a scheduler
that had joined Ray would pass a broken Ray state to every process it forks. If the release
fails, the registry's TTL frees the results later.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from typing import Any

from airflow.listeners import hookimpl

from ray_provider.client.reference import RayResultRef
from ray_provider.exceptions import RayReferenceError

log = logging.getLogger(__name__)


def run_references(dag_id: str, run_id: str) -> list[RayResultRef]:
    """The ``@task.ray`` references stored in the XComs of one run."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel.value).filter(
            XComModel.dag_id == dag_id, XComModel.run_id == run_id
        )
        values = [row[0] for row in rows]
    refs = []
    for value in values:
        try:
            parsed = json.loads(value) if isinstance(value, (str, bytes)) else value
            ref = RayResultRef.from_xcom(parsed)
        except (ValueError, RayReferenceError):  # not JSON, or malformed: nothing to release
            continue
        if ref is not None:
            refs.append(ref)
    return refs


def release_run_results(
    dag_id: str, run_id: str, conn_ids: list[str], ended_at: float | None = None
) -> dict[str, int]:
    """Release the run's results in each Ray connection; returns the count per conn id.

    Only this deployment's results are released, and only those made before ``ended_at``
    (epoch seconds): a task cleared after the run ended keeps its new result.
    """
    from ray_provider.hooks.ray import RayHook

    released: dict[str, int] = {}
    for conn_id in conn_ids:
        try:
            released[conn_id] = RayHook(conn_id).results().release_run(dag_id, run_id, ended_at)
        except Exception:
            log.warning(
                "Could not release Ray results of %s/%s on %r; the TTL will free them.",
                dag_id,
                run_id,
                conn_id,
                exc_info=True,
            )
    return released


def _release_in_child(dag_id: str, run_id: str, ended_at: float) -> None:
    try:
        # Results on a per-run cluster go with it (its teardown, or the expiry sweep).
        conn_ids = sorted(
            {ref.ray_conn_id for ref in run_references(dag_id, run_id) if not ref.ray_address}
        )
        if not conn_ids:
            return
        command = [
            sys.executable,
            "-m",
            "ray_provider.cli.release",
            f"--ended-at={ended_at}",
            dag_id,
            run_id,
            *conn_ids,
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        level = logging.INFO if result.returncode == 0 else logging.WARNING
        log.log(
            level,
            "Ray results of %s/%s: %s",
            dag_id,
            run_id,
            (result.stdout + result.stderr).strip()[-2000:],
        )
    except Exception:
        log.warning("Releasing Ray results of %s/%s failed", dag_id, run_id, exc_info=True)


def _release_in_background(dag_run: Any) -> None:
    end = getattr(dag_run, "end_date", None)
    ended_at = end.timestamp() if end is not None else time.time()
    threading.Thread(
        target=_release_in_child,
        args=(dag_run.dag_id, dag_run.run_id, ended_at),
        name=f"ray-release-{dag_run.run_id}",
        daemon=True,
    ).start()


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    _release_in_background(dag_run)


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    _release_in_background(dag_run)
