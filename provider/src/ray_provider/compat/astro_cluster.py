"""What astro-provider-ray's cluster operators read from their connection and from XCom.

Its ``ray`` connection said where clusters go with extras ``kube_config_path`` or
``kube_config`` (the kubeconfig's text), ``cluster_context`` and ``namespace``. Its jobs found
the cluster through ``xcom_task_key="TASK.KEY"``, an XCom the setup pushed (the dashboard
URL). Here that key leads to the setup's signed handle instead, so a job sends the Ray token
only to a cluster this deployment made for this run.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from ray_provider.exceptions import RayArgumentError


def _extras(conn_id: str) -> dict[str, Any]:
    from airflow.sdk import BaseHook

    return dict(BaseHook.get_connection(conn_id).extra_dejson or {})


# The extras that make a connection astro-provider-ray's Kubernetes form.
KUBE_EXTRAS = ("kube_config_path", "kube_config", "cluster_context")


def connection_namespace(conn_id: str) -> str:
    """The Kubernetes namespace of an astro-style Kubernetes connection ("" otherwise).

    Its ``namespace`` extra named the Kubernetes namespace only beside a kubeconfig; on this
    provider's own ``ray`` connections the same extra is the Ray namespace of the tasks, so it
    is read as Kubernetes's only where a kubeconfig extra says which form the connection has.
    """
    extras = _extras(conn_id)
    if not any(extras.get(name) for name in KUBE_EXTRAS):
        return ""
    return str(extras.get("namespace") or "")


def kubernetes_from_connection(conn_id: str) -> Any:
    """The Kubernetes API with the connection's kubeconfig, else the pod's ServiceAccount."""
    from ray_provider.hooks.kubernetes_api import KubernetesApi

    extras = _extras(conn_id)
    path = extras.get("kube_config_path") or None
    content = extras.get("kube_config") or None
    context = extras.get("cluster_context") or None
    if path and content:
        raise RayArgumentError(
            f"Connection {conn_id!r}: extras kube_config_path and kube_config are both set; "
            "keep one (a path to a kubeconfig, or the kubeconfig's text)."
        )
    if not content:
        return KubernetesApi(path, context)
    # The client reads the file once, here: it lives only as long as that takes.
    handle, name = tempfile.mkstemp(prefix="kubeconfig-", suffix=".yaml")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(content if isinstance(content, str) else str(content))
        return KubernetesApi(name, context)
    finally:
        os.unlink(name)


def cluster_from_xcom_key(xcom_task_key: str, ti: Any, task_id: str) -> dict[str, Any]:
    """The signed handle of the setup task ``xcom_task_key`` names (``"TASK.KEY"``)."""
    task, _, key = xcom_task_key.partition(".")
    if not task or not key:
        raise RayArgumentError(
            f"Task {task_id!r}: xcom_task_key={xcom_task_key!r}: expected 'SETUP_TASK.dashboard', "
            "the task id of the SetupRayCluster whose cluster this task uses."
        )
    handle = ti.xcom_pull(task_ids=task)
    if not isinstance(handle, dict) or "address" not in handle:
        raise RayArgumentError(
            f"Task {task_id!r}: xcom_task_key={xcom_task_key!r}: task {task!r} of this run left "
            f"no per-run cluster (its result is {type(handle).__name__}). Make {task!r} a "
            "SetupRayCluster (or RayClusterSetupOperator) upstream of this task."
        )
    return handle
