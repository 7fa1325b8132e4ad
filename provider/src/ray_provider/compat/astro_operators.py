"""astro-provider-ray's operators by their names: ``SubmitRayJob`` and the cluster operators.

``SubmitRayJob`` is ``RaySubmitJobOperator`` with that provider's argument names and defaults:
it waits deferred (it always deferred there), and ``job_timeout_seconds`` (600 by default
there, 0 for none) becomes the task's execution timeout. Unlike there, the job is stopped when
that timeout passes, and a failed job fails the task with the end of its own log.

``SetupRayCluster`` and ``DeleteRayCluster`` (per-run clusters from a RayCluster YAML, with the
KubeRay operator installed by the task through Helm) are refused: a DAG that uses them fails to
load with an error that names this provider's ``RayClusterSetupOperator`` /
``RayClusterTeardownOperator`` (KubeRay installed once, by the platform's charts).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ray_provider.compat.astro import REFUSED_KEYS
from ray_provider.exceptions import RayArgumentError
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
            ("xcom_task_key", xcom_task_key),
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


class _NotYetAvailable:
    """A name a DAG imports from astro-provider-ray whose feature is not here yet."""

    feature = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RayArgumentError(
            f"{type(self).__name__} (task {kwargs.get('task_id')!r}): {self.feature} that "
            "install KubeRay from a task are not offered here. Use RayClusterSetupOperator("
            "template='cluster.yaml') and RayClusterTeardownOperator from "
            "ray_provider.operators, with ray_cluster=setup.output on the tasks that use it "
            "(KubeRay is installed once, by the platform's charts); see the README's "
            "'Coming from astro-provider-ray'."
        )


class SetupRayCluster(_NotYetAvailable):
    feature = "per-run Ray clusters"


class DeleteRayCluster(_NotYetAvailable):
    feature = "per-run Ray clusters"
