"""Names shared by the Airflow side and the Ray side.

A result's key starts with the deployment's id, so two Airflow deployments that share one Ray
cluster (and, with scheduled runs, the same dag_id and run_id) never share an entry. Each try
of a task adds a random *generation* next to the key: the registry, the checkpoint path and the
XCom reference all carry it, so a try only ever acts on, and a consumer only ever reads, the
value that one try made.
"""

from __future__ import annotations

import uuid

REGISTRY_ACTOR_NAME = "ray_provider_result_registry"
DEFAULT_NAMESPACE = "airflow"
DEFAULT_RESULT_TTL_SECONDS = 7 * 24 * 3600
# The deployment id when no deployment key is configured (results are then not authenticated).
UNKEYED_DEPLOYMENT = "unkeyed"


def run_key(deployment: str, dag_id: str, run_id: str) -> str:
    """Key of one DAG run of one deployment: the run's results are released together."""
    return f"{deployment}/{dag_id}/{run_id}"


def result_key(deployment: str, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """Key of one task's result slot; each try writes its own generation into it."""
    return f"{run_key(deployment, dag_id, run_id)}/{task_id}/{map_index}"


def new_generation() -> str:
    """A fresh, unguessable id for one try's result."""
    return uuid.uuid4().hex
