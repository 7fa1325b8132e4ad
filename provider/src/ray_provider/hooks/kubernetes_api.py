"""The Kubernetes API calls of per-run clusters, through the official ``kubernetes`` client.

In a pod (the Airflow scheduler, worker or triggerer) it uses the pod's ServiceAccount;
elsewhere a kubeconfig (``KUBECONFIG``, ``~/.kube/config``, or a path and context given).
Every refusal becomes a :class:`RayClusterApiError` that says what was refused and how to
grant it, instead of a raw HTTP body.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ray_provider.client import run_cluster_spec as spec
from ray_provider.exceptions import RayClusterApiError

# Where Kubernetes mounts a pod's ServiceAccount.
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# The chart's Role for these calls (perRunClusters.rbac), named in refusals.
GRANT_HINT = (
    "The ray-platform chart grants it with perRunClusters.enabled: a Role on rayclusters "
    "(and the template ConfigMap) bound to the Airflow ServiceAccounts listed in "
    "perRunClusters.rbac.serviceAccounts"
)


def _import_kubernetes() -> Any:
    try:
        import kubernetes
    except ImportError as exc:
        raise RayClusterApiError(
            "Per-run Ray clusters need the Kubernetes client: pip install "
            "'ray-taskflow-provider[kubernetes]' (the project's Airflow image has it)."
        ) from exc
    return kubernetes


def in_cluster() -> bool:
    return (
        bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
        and (SERVICE_ACCOUNT_DIR / "token").is_file()
    )


class KubernetesApi:
    """RayCluster and ConfigMap calls in namespaces of one Kubernetes cluster."""

    def __init__(self, config_file: str | None = None, context: str | None = None) -> None:
        kubernetes = _import_kubernetes()
        self._exceptions = kubernetes.client.exceptions
        configuration = kubernetes.client.Configuration()
        self._context_namespace = ""
        try:
            if config_file is None and context is None and in_cluster():
                kubernetes.config.load_incluster_config(client_configuration=configuration)
                self.identity = "this pod's ServiceAccount"
            else:
                kubernetes.config.load_kube_config(
                    config_file=config_file, context=context, client_configuration=configuration
                )
                contexts, active = kubernetes.config.list_kube_config_contexts(config_file)
                chosen = context or (active or {}).get("name", "")
                self.identity = f"kubeconfig context {chosen!r}"
                for item in contexts or []:
                    if item.get("name") == chosen:
                        self._context_namespace = item.get("context", {}).get("namespace", "")
        except (kubernetes.config.ConfigException, OSError) as exc:
            raise RayClusterApiError(
                "No Kubernetes credentials: not inside a pod with a ServiceAccount token, and "
                f"no usable kubeconfig ({exc}). Run the task in the cluster (the chart's "
                "Airflow), or give kube_config_path / kube_context."
            ) from exc
        self.host = configuration.host
        api_client = kubernetes.client.ApiClient(configuration)
        self._custom = kubernetes.client.CustomObjectsApi(api_client)
        self._core = kubernetes.client.CoreV1Api(api_client)

    def default_namespace(self) -> str:
        """The pod's own namespace, else the kubeconfig context's, else ``default``."""
        path = SERVICE_ACCOUNT_DIR / "namespace"
        if self.identity.startswith("this pod") and path.is_file():
            return path.read_text().strip()
        return self._context_namespace or "default"

    # ---- the calls ---------------------------------------------------------------------

    def read_template(self, namespace: str, name: str, key: str) -> str:
        """The text under ``key`` of ConfigMap ``name``."""
        try:
            config_map = self._core.read_namespaced_config_map(name, namespace)
        except Exception as exc:
            raise self._error(exc, "get", f"ConfigMap {namespace}/{name}", template=True) from exc
        data = config_map.data or {}
        if key not in data:
            raise RayClusterApiError(
                f"ConfigMap {namespace}/{name} has no key {key!r} (keys: {sorted(data)}); it "
                "is not a per-run cluster template of the ray-platform chart."
            )
        return data[key]

    def create_cluster(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        try:
            return self._custom.create_namespaced_custom_object(
                spec.GROUP, spec.VERSION, namespace, spec.PLURAL, body
            )
        except Exception as exc:
            raise self._error(exc, "create", f"RayCluster {namespace}/{name}") from exc

    def get_cluster(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self._custom.get_namespaced_custom_object(
                spec.GROUP, spec.VERSION, namespace, spec.PLURAL, name
            )
        except Exception as exc:
            if self._status(exc) == 404 and not self._missing_kind(exc):
                return None
            raise self._error(exc, "get", f"RayCluster {namespace}/{name}") from exc

    def list_clusters(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        try:
            answer = self._custom.list_namespaced_custom_object(
                spec.GROUP, spec.VERSION, namespace, spec.PLURAL, label_selector=label_selector
            )
        except Exception as exc:
            raise self._error(exc, "list", f"RayClusters in {namespace}") from exc
        return list(answer.get("items") or [])

    def delete_cluster(self, namespace: str, name: str) -> bool:
        try:
            self._custom.delete_namespaced_custom_object(
                spec.GROUP,
                spec.VERSION,
                namespace,
                spec.PLURAL,
                name,
                propagation_policy="Background",
            )
        except Exception as exc:
            if self._status(exc) == 404 and not self._missing_kind(exc):
                return False
            raise self._error(exc, "delete", f"RayCluster {namespace}/{name}") from exc
        return True

    # ---- errors ------------------------------------------------------------------------

    def _status(self, exc: Exception) -> int | None:
        if isinstance(exc, self._exceptions.ApiException):
            return exc.status
        return None

    @staticmethod
    def _missing_kind(exc: Exception) -> bool:
        """A 404 for the resource type itself (no CRD), not for one object."""
        body = str(getattr(exc, "body", "") or "")
        return "the server could not find the requested resource" in body

    def _error(
        self, exc: Exception, verb: str, what: str, *, template: bool = False
    ) -> RayClusterApiError:
        status = self._status(exc)
        reason = _reason(exc)
        if status is None:
            return RayClusterApiError(
                f"Cannot reach the Kubernetes API at {self.host} to {verb} {what}: {exc}"
            )
        if status in (401, 403):
            return RayClusterApiError(
                f"The Kubernetes API refused to let {self.identity} {verb} {what} "
                f"({status}: {reason}). {GRANT_HINT}.",
                status,
            )
        if status == 404 and template:
            return RayClusterApiError(
                f"No {what}: the per-run cluster template. Install the ray-platform chart with "
                "perRunClusters.enabled=true (it renders the template), or pass template= a "
                "RayCluster YAML file or dict.",
                status,
            )
        if status == 404 and self._missing_kind(exc):
            return RayClusterApiError(
                f"The Kubernetes API at {self.host} has no RayCluster resource "
                f"({spec.GROUP}/{spec.VERSION}): install the KubeRay operator (make up does).",
                status,
            )
        return RayClusterApiError(f"Could not {verb} {what}: {status} {reason}", status)


def _reason(exc: Exception) -> str:
    """The API's own message (its JSON ``Status``), else the exception text."""
    import json

    body = getattr(exc, "body", None)
    if body:
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError):
            message = None
        if message:
            return str(message)
    return str(getattr(exc, "reason", "") or exc)
