"""Per-run Ray clusters: ``RayClusterSetupOperator`` and ``RayClusterTeardownOperator``.

A DAG run gets a RayCluster of its own (KubeRay) made from a template, uses it from its
``@task.ray`` tasks and Ray jobs (``ray_cluster=setup.output``), and deletes it when the run
ends, failed or not. Airflow 3's setup/teardown tasks give the guarantees: the teardown runs
when the work fails, and clearing any task of the run runs the setup again first.

.. code-block:: python

    cluster = RayClusterSetupOperator(task_id="ray_cluster")
    delete = RayClusterTeardownOperator(task_id="delete_ray_cluster", cluster=cluster.output)
    with delete.as_teardown(setups=cluster):
        train.override(ray_cluster=cluster.output)(load.override(ray_cluster=cluster.output)())

The setup waits until KubeRay reports the cluster ready and its Ray Client port answers,
then returns a handle (name, namespace, ``ray://`` address, dashboard) signed with the
deployment key: the tasks send the connection's token to that address, so they check it.
Results of a per-run cluster die with it; ``checkpoint=True`` keeps those that must outlive
it (a re-run after the teardown restores them from the store).
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml
from airflow.sdk import BaseOperator, conf

from ray_provider.client import run_cluster_spec as spec
from ray_provider.client.deployment import current as current_deployment
from ray_provider.client.run_cluster import RunClusterHandle
from ray_provider.client.run_clusters import RunClusters
from ray_provider.config_options import (
    CLUSTER_NAMESPACE,
    CLUSTER_TEMPLATE,
    DEFAULT_CLUSTER_TEMPLATE,
    SECTION,
)
from ray_provider.exceptions import (
    RayClusterApiError,
    RayClusterNotReadyError,
    RayClusterTemplateError,
)

# The key of the template in the chart's ConfigMap.
TEMPLATE_KEY = "raycluster.yaml"
# How long the Ray Client port may stay closed once KubeRay says the cluster is ready.
PORT_WAIT_SECONDS = 120.0


class _ClusterTask(BaseOperator):
    """What the setup and the teardown share: the Kubernetes API and the namespace."""

    ui_color = "#d7ecff"

    def __init__(
        self,
        *,
        namespace: str | None = None,
        kube_config_path: str | None = None,
        kube_context: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.namespace = namespace
        self.kube_config_path = kube_config_path
        self.kube_context = kube_context
        self._api: Any = None

    def api(self) -> Any:
        if self._api is None:
            from ray_provider.hooks.kubernetes_api import KubernetesApi

            self._api = KubernetesApi(self.kube_config_path, self.kube_context)
        return self._api

    def resolved_namespace(self) -> str:
        return (
            self.namespace
            or conf.get(SECTION, CLUSTER_NAMESPACE, fallback="")
            or self.api().default_namespace()
        )

    def clusters(self, namespace: str) -> RunClusters:
        return RunClusters(self.api(), namespace, log=self.log)

    def sweep(self, clusters: RunClusters) -> None:
        """Delete expired clusters; a failure here never fails the task."""
        try:
            clusters.sweep_expired()
        except RayClusterApiError as exc:
            self.log.warning("Could not look for expired per-run clusters: %s", exc)


class RayClusterSetupOperator(_ClusterTask):
    """Create this DAG run's RayCluster from a template and wait until it is ready.

    :param template: a ConfigMap name (key ``raycluster.yaml``), a path to a RayCluster YAML
        file, or a RayCluster dict; default ``[ray_provider] cluster_template`` (the chart's
        ``<release>-run-cluster``). Its ``rayVersion`` and the Python of its image must equal
        this Airflow's (Ray Client's rule), checked before anything is created.
    :param namespace: Kubernetes namespace; default ``[ray_provider] cluster_namespace``, else
        the Airflow pod's own.
    :param image: replace the image of every Ray container (same Ray and Python).
    :param worker_replicas: replicas per worker group, e.g. ``{"cpu": 2, "gpu": 1}``.
    :param ready_timeout: seconds to wait for the cluster (GPU nodes may take minutes to
        scale up); then the cluster is deleted and the task fails with what KubeRay reports.
    :param lifetime: after this the cluster counts as abandoned: any later setup or teardown
        in the namespace deletes it (a run whose teardown never ran: a crashed scheduler).
    :param kube_config_path: a kubeconfig, when Airflow runs outside the cluster.
    :param kube_context: a kubeconfig context.
    """

    template_fields: Sequence[str] = ("template", "namespace", "image", "worker_replicas")

    def __init__(
        self,
        *,
        template: str | dict[str, Any] | None = None,
        image: str | None = None,
        worker_replicas: dict[str, int] | None = None,
        ready_timeout: float = 900,
        lifetime: timedelta = timedelta(hours=12),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.template = template
        self.image = image
        self.worker_replicas = worker_replicas
        self.ready_timeout = float(ready_timeout)
        if lifetime <= timedelta(0):
            raise RayClusterTemplateError(
                f"{self.task_id}: lifetime={lifetime!r}; give a positive timedelta."
            )
        self.lifetime = lifetime
        self._made: tuple[str, str] | None = None

    def execute(self, context: Any) -> dict[str, Any]:
        ti = context["ti"]
        deployment = current_deployment()
        namespace = self.resolved_namespace()
        clusters = self.clusters(namespace)
        self.sweep(clusters)
        template, source, prefix = self.load_template(namespace)
        for warning in spec.check_versions(
            template,
            ray_version=version("ray"),
            python_minor=f"{sys.version_info.major}.{sys.version_info.minor}",
            source=source,
        ):
            self.log.warning(warning)
        name = spec.cluster_name(prefix, deployment.id, ti.dag_id, ti.run_id)
        body = spec.build_run_cluster(
            template,
            name=name,
            namespace=namespace,
            template_name=prefix,
            deployment=deployment.id,
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            expires_at=datetime.now(UTC) + self.lifetime,
            image=self.image,
            worker_replicas=self.worker_replicas,
        )
        self.log.info("RayCluster %s/%s from %s", namespace, name, source)
        self._made = (namespace, name)
        _, created = clusters.ensure(
            body,
            deployment=deployment.id,
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            timeout=self.ready_timeout,
        )
        try:
            clusters.wait_ready(name, timeout=self.ready_timeout)
            host = spec.head_service(name, namespace)
            wait_for_port(host, spec.CLIENT_PORT, PORT_WAIT_SECONDS)
        except BaseException:
            # The teardown runs only after a setup that succeeded: clean up here.
            self.log.warning("Deleting RayCluster %s: it did not become usable", name)
            clusters.delete(name)
            raise
        handle = RunClusterHandle(
            deployment=deployment.id,
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            name=name,
            namespace=namespace,
            address=spec.client_address(name, namespace),
            dashboard_url=spec.dashboard_address(name, namespace),
        )
        self.log.info(
            "Per-run Ray cluster %s is %s at %s (dashboard %s)",
            name,
            "ready" if created else "ready again",
            handle.address,
            handle.dashboard_url,
        )
        # That address resolves only inside the cluster: say how to open it from a laptop.
        self.log.info(
            "Its dashboard from outside the cluster: kubectl -n %s port-forward svc/%s %d:%d, "
            "then http://localhost:%d",
            namespace,
            spec.head_service_name(name),
            spec.DASHBOARD_PORT,
            spec.DASHBOARD_PORT,
            spec.DASHBOARD_PORT,
        )
        return handle.signed(deployment.key).to_xcom()

    def on_kill(self) -> None:
        if self._made is not None:
            namespace, name = self._made
            self.log.warning("Task killed: deleting RayCluster %s/%s", namespace, name)
            try:
                self.clusters(namespace).delete(name)
            except Exception as exc:
                self.log.warning("Could not delete RayCluster %s: %s", name, exc)

    def load_template(self, namespace: str) -> tuple[dict[str, Any], str, str]:
        """``(template, where it came from, name prefix)``, checked to be a RayCluster."""
        value = self.template or conf.get(
            SECTION, CLUSTER_TEMPLATE, fallback=DEFAULT_CLUSTER_TEMPLATE
        )
        if isinstance(value, dict):
            template, source = value, "the template argument"
        elif _looks_like_path(value):
            path = Path(value)
            if not path.is_file():
                raise RayClusterTemplateError(
                    f"{self.task_id}: template file {value!r} does not exist here."
                )
            template, source = _parse_yaml(path.read_text(), str(path)), str(path)
        else:
            source = f"ConfigMap {namespace}/{value}"
            template = _parse_yaml(self.api().read_template(namespace, value, TEMPLATE_KEY), source)
        spec.check_template(template, source)
        prefix = str((template.get("metadata") or {}).get("name") or "ray-run")
        return template, source, prefix


class RayClusterTeardownOperator(_ClusterTask):
    """Delete this DAG run's per-run clusters (use with ``as_teardown(setups=...)``).

    Deletes every RayCluster labelled with this run in the namespace, so it needs nothing
    from the setup; ``cluster`` (the setup's output) names the namespace and orders the task
    after the setup. Never deletes a cluster without the per-run label.

    :param cluster: the setup task's output (optional).
    :param wait_seconds: wait this long for the clusters to be gone (0: do not wait).
    """

    template_fields: Sequence[str] = ("cluster", "namespace")

    def __init__(self, *, cluster: Any = None, wait_seconds: float = 300, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cluster = cluster
        self.wait_seconds = float(wait_seconds)

    def execute(self, context: Any) -> list[str]:
        ti = context["ti"]
        deployment = current_deployment()
        namespace = self.resolved_namespace()
        if isinstance(self.cluster, dict):
            handle = RunClusterHandle.from_xcom(self.cluster)
            handle.check(deployment.key, deployment.id, ti.dag_id, ti.run_id)
            namespace = handle.namespace or namespace
        clusters = self.clusters(namespace)
        selector = (
            f"{spec.PER_RUN_SELECTOR},"
            f"{spec.LABEL_RUN_HASH}={spec.run_hash(deployment.id, ti.dag_id, ti.run_id)}"
        )
        names = [c["metadata"]["name"] for c in self.api().list_clusters(namespace, selector)]
        if not names:
            self.log.info("No per-run Ray cluster of this run in %s (already deleted)", namespace)
        for name in names:
            clusters.delete(name, wait=self.wait_seconds)
        self.sweep(clusters)
        return names


def _looks_like_path(value: str) -> bool:
    return "/" in value or value.endswith((".yaml", ".yml", ".json"))


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RayClusterTemplateError(f"{source} is not valid YAML: {exc}") from exc


def wait_for_port(host: str, port: int, timeout: float) -> None:
    """Until ``host:port`` accepts a TCP connection (DNS may lag the Service too)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=5):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise RayClusterNotReadyError(
                    f"KubeRay reports the cluster ready, but {host}:{port} (Ray Client) did "
                    f"not answer within {timeout:.0f} s ({exc}). A NetworkPolicy may keep "
                    "Airflow out: the chart admits pods labelled "
                    "ray-platform/ray-client=true."
                ) from exc
            time.sleep(2.0)
