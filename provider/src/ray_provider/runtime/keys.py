"""Names shared by the Airflow side and the Ray side."""

from __future__ import annotations

REGISTRY_ACTOR_NAME = "ray_provider_result_registry"
DEFAULT_NAMESPACE = "airflow"
DEFAULT_RESULT_TTL_SECONDS = 7 * 24 * 3600


def run_key(dag_id: str, run_id: str) -> str:
    """Key of one DAG run: every result of the run is released together under it."""
    return f"{dag_id}/{run_id}"


def result_key(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """Key of one task's result; a retry of the task replaces the previous result."""
    return f"{run_key(dag_id, run_id)}/{task_id}/{map_index}"
