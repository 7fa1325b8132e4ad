"""astro-provider-ray's operators by their names: ``SubmitRayJob`` and the cluster operators.

``SubmitRayJob`` is ``RaySubmitJobOperator`` with that provider's argument names and defaults:
it waits deferred (it always deferred there), and ``job_timeout_seconds`` (600 by default
there, 0 for none) becomes the task's execution timeout. Unlike there, the job is stopped when
that timeout passes, and a failed job fails the task with the end of its own log.

``SetupRayCluster`` and ``DeleteRayCluster`` are the per-run cluster operators
(``RayClusterSetupOperator`` / ``RayClusterTeardownOperator``) with that provider's arguments,
marked as setup and teardown so that ``setup >> work >> delete`` deletes the cluster of a failed
run too. What they did beyond the cluster (install or uninstall KubeRay through Helm, apply a
GPU device plugin) is the platform's job here: those arguments are accepted and ignored, with
a warning. ``SubmitRayJob(xcom_task_key="setup.dashboard")`` submits to the setup's cluster.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import yaml
from airflow.sdk import TriggerRule

from ray_provider.compat.astro import REFUSED_KEYS
from ray_provider.compat.astro_cluster import (
    cluster_from_xcom_key,
    connection_namespace,
    kubernetes_from_connection,
)
from ray_provider.exceptions import RayArgumentError
from ray_provider.operators.ray_cluster import (
    RayClusterSetupOperator,
    RayClusterTeardownOperator,
)
from ray_provider.operators.ray_job import RaySubmitJobOperator

# astro-provider-ray's default wait for a job.
DEFAULT_JOB_TIMEOUT_SECONDS = 600


class SubmitRayJob(RaySubmitJobOperator):
    """``RaySubmitJobOperator`` with astro-provider-ray's arguments (see the module docstring).

    :param conn_id: the ``ray`` connection (its host, or its ``address`` extra, the dashboard
        URL ``http://HOST:8265``).
    :param num_cpus: CPUs of the entrypoint (``entrypoint_num_cpus``); 0: none reserved.
    :param num_gpus: GPUs of the entrypoint; 0: none.
    :param memory: memory of the entrypoint in bytes; 0: none.
    :param resources: custom resources of the entrypoint.
    :param job_timeout_seconds: the task's execution timeout (0: none); the job is stopped.
    :param poll_interval: seconds between looks at the job where its log cannot be followed.
    :param fetch_logs: accepted; the job's log is always copied into the task log.
    :param xcom_task_key: ``"SETUP_TASK.dashboard"``: the job goes to the cluster of that
        ``SetupRayCluster`` (its signed handle is read, whichever key is named).
    """

    def __init__(
        self,
        *,
        conn_id: str,
        entrypoint: str,
        runtime_env: dict[str, Any] | None = None,
        num_cpus: float = 0,
        num_gpus: float = 0,
        memory: float = 0,
        resources: dict[str, Any] | None = None,
        ray_cluster_yaml: str | None = None,
        kuberay_version: str | None = None,
        update_if_exists: bool | None = None,
        gpu_device_plugin_yaml: str | None = None,
        fetch_logs: bool = True,
        wait_for_completion: bool = True,
        job_timeout_seconds: float = DEFAULT_JOB_TIMEOUT_SECONDS,
        poll_interval: float = 60,
        xcom_task_key: str | None = None,
        **kwargs: Any,
    ) -> None:
        for name, value in (
            ("ray_cluster_yaml", ray_cluster_yaml),
            ("gpu_device_plugin_yaml", gpu_device_plugin_yaml),
        ):
            if value:
                raise RayArgumentError(
                    f"Task {kwargs.get('task_id')!r}: {name}={value!r} is not supported here: "
                    f"{REFUSED_KEYS[name]}."
                )
        if job_timeout_seconds and "execution_timeout" not in kwargs:
            kwargs["execution_timeout"] = timedelta(seconds=job_timeout_seconds)
        kwargs.setdefault("deferrable", True)
        super().__init__(
            entrypoint=entrypoint,
            ray_conn_id=conn_id or "ray_default",
            runtime_env=runtime_env,
            entrypoint_num_cpus=num_cpus or None,
            entrypoint_num_gpus=num_gpus or None,
            entrypoint_memory=int(memory) if memory else None,
            entrypoint_resources=resources or None,
            wait_for_completion=wait_for_completion,
            poll_seconds=poll_interval,
            **kwargs,
        )
        self.fetch_logs = fetch_logs
        self.xcom_task_key = xcom_task_key

    def jobs(self, ti: Any = None) -> Any:
        # xcom_task_key names the SetupRayCluster whose cluster the job goes to.
        if self.xcom_task_key and self.ray_cluster is None and ti is not None:
            self.ray_cluster = cluster_from_xcom_key(self.xcom_task_key, ti, self.task_id)
        return super().jobs(ti)


class _AstroConnection:
    """Where astro-provider-ray's cluster operators find Kubernetes: their ``conn_id``'s
    kubeconfig extras, and a namespace from the YAML, then that connection, then the usual."""

    conn_id: str
    ray_cluster_yaml: str | None
    namespace: str | None
    _api: Any

    def api(self) -> Any:
        if self._api is None:
            self._api = kubernetes_from_connection(self.conn_id)
        return self._api

    def resolved_namespace(self) -> str:
        return (
            self.namespace
            or _template_namespace(self.ray_cluster_yaml)
            or connection_namespace(self.conn_id)
            or super().resolved_namespace()  # type: ignore[misc]
        )


class SetupRayCluster(_AstroConnection, RayClusterSetupOperator):
    """astro-provider-ray's ``SetupRayCluster``: this run's RayCluster from ``ray_cluster_yaml``.

    The YAML is the template of a per-run cluster (``RayClusterSetupOperator``): its
    ``metadata.name`` becomes the prefix of a name unique to the DAG run, so two runs no longer
    fight over one cluster, and a retry finds its run's cluster again. The task is a setup task:
    a ``DeleteRayCluster`` after it runs even when the work in between fails. Besides its signed
    handle (``return_value``, what ``ray_cluster=`` takes) it pushes astro-provider-ray's XCom
    keys, ``dashboard`` (``http://HEAD:8265``) and ``client`` (``ray://HEAD:10001``), for
    DAGs that read them.

    :param conn_id: a ``ray`` connection; its extras ``kube_config_path`` or ``kube_config``
        (the kubeconfig's text), ``cluster_context`` and ``namespace`` say where the cluster
        goes (none: the Airflow pod's own cluster and namespace).
    :param ray_cluster_yaml: path of the RayCluster YAML.
    :param kuberay_version: ignored: KubeRay is the platform's (its chart installs it once).
    :param gpu_device_plugin_yaml: ignored: the GPU node pool brings its device plugin.
    :param update_if_exists: ignored: a retry reuses its run's cluster as it is.
    """

    def __init__(
        self,
        *,
        conn_id: str = "ray_default",
        ray_cluster_yaml: str,
        kuberay_version: str | None = None,
        gpu_device_plugin_yaml: str | None = None,
        update_if_exists: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if not ray_cluster_yaml:
            raise RayArgumentError(
                f"SetupRayCluster (task {kwargs.get('task_id')!r}): give ray_cluster_yaml, the "
                "path of a RayCluster YAML file."
            )
        super().__init__(template=ray_cluster_yaml, **kwargs)
        self.conn_id = conn_id
        self.ray_cluster_yaml = ray_cluster_yaml
        self.ignored = {
            name: value
            for name, value in (
                ("kuberay_version", kuberay_version),
                ("gpu_device_plugin_yaml", gpu_device_plugin_yaml),
                ("update_if_exists", update_if_exists),
            )
            if value
        }
        self.is_setup = True

    def execute(self, context: Any) -> dict[str, Any]:
        for name, value in self.ignored.items():
            self.log.warning("%s=%r is ignored here: %s", name, value, IGNORED[name])
        handle = super().execute(context)
        ti = context["ti"]
        ti.xcom_push(key="dashboard", value=handle["dashboard_url"])
        ti.xcom_push(key="client", value=handle["address"])
        return handle


class DeleteRayCluster(_AstroConnection, RayClusterTeardownOperator):
    """astro-provider-ray's ``DeleteRayCluster``: deletes this run's cluster(s), as a teardown.

    It runs when the tasks before it are done, failed or not (there it ran only after they
    succeeded, leaving the cluster of a failed run), and the run's state stays theirs. It
    leaves KubeRay installed (there it uninstalled the operator, taking every other cluster's
    operator with it).

    :param conn_id: the ``ray`` connection of the ``SetupRayCluster`` (where the cluster is).
    :param ray_cluster_yaml: its YAML, for the namespace; the run's clusters are found by label.
    :param gpu_device_plugin_yaml: ignored (nothing of the device plugin is touched).
    """

    def __init__(
        self,
        *,
        conn_id: str = "ray_default",
        ray_cluster_yaml: str | None = None,
        gpu_device_plugin_yaml: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.ray_cluster_yaml = ray_cluster_yaml
        del gpu_device_plugin_yaml  # its DaemonSet belongs to the node pool
        self.is_teardown = True
        self.trigger_rule = TriggerRule.ALL_DONE_SETUP_SUCCESS


# Why SetupRayCluster's arguments about installing things change nothing here.
IGNORED = {
    "kuberay_version": "KubeRay is installed once for the platform by its charts",
    "gpu_device_plugin_yaml": "the GPU node pool brings its device plugin",
    "update_if_exists": "a retry reuses its run's cluster as it is",
}


def _template_namespace(path: str | None) -> str:
    """``metadata.namespace`` of the YAML, where astro-provider-ray looked first."""
    if not path:
        return ""
    try:
        with open(path) as handle:
            document = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError):
        return ""  # the setup reports the file itself, with its path
    metadata = document.get("metadata") if isinstance(document, dict) else None
    return str((metadata or {}).get("namespace") or "")
