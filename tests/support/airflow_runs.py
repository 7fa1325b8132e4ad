"""Looking at a DAG run while it runs: gates, a log that must show a line, the extra links.

A test's callable or job holds on until a gate file named in the run's conf exists, and the
test opens it only after it saw what it waits for (no sleep decides anything).
"""

from __future__ import annotations

from devstack.processes import wait_until


def gated_run(airflow, tmp_path, dag_id, **conf):
    gate = tmp_path / f"{dag_id}.gate"
    run_id = airflow.trigger(dag_id, {"gate": str(gate), **conf})
    return run_id, gate


def ti_state(airflow, dag_id, run_id, task_id):
    return airflow.task_instances(dag_id, run_id).get(task_id, {}).get("state")


def log_once_it_shows(airflow, dag_id, run_id, task_id, text, timeout=180):
    found: list[str] = []

    def shows() -> bool:
        try:
            log = airflow.task_log(dag_id, run_id, task_id)
        except Exception:  # the log is not there before the task starts
            return False
        found[:] = [log]
        return text in log

    wait_until(shows, timeout, f"{text!r} in the log of {dag_id}.{task_id}", interval=0.5)
    return found[0]


def links(airflow, dag_id, run_id, task_id):
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/links"
    return airflow.api("GET", path)["extra_links"]
