"""Create, wait for, find and delete per-run RayClusters through a Kubernetes API.

The API is passed in (``ClusterApi``: the real one is ``hooks.kubernetes_api``), and so are
the clock and the sleep, so the rules here (reuse a retried run's cluster, wait out a deletion,
give up on a failed cluster, sweep expired ones) are tested without a cluster, and the same
code runs against KubeRay on the local kind cluster.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from ray_provider.client import run_cluster_spec as spec
from ray_provider.exceptions import RayClusterApiError, RayClusterNotReadyError

_log = logging.getLogger(__name__)
# How often progress is logged while waiting (the poll itself is more frequent).
PROGRESS_SECONDS = 30.0


class ClusterApi(Protocol):
    """The four RayCluster calls this module needs (namespaced, ``ray.io/v1``)."""

    def create_cluster(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def get_cluster(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def list_clusters(self, namespace: str, label_selector: str) -> list[dict[str, Any]]: ...

    def delete_cluster(self, namespace: str, name: str) -> bool: ...


class RunClusters:
    """Per-run clusters in one namespace."""

    def __init__(
        self,
        api: ClusterApi,
        namespace: str,
        *,
        log: logging.Logger | Any = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.log = log or _log
        self._now = now
        self._monotonic = monotonic
        self._sleep = sleep

    def ensure(
        self, body: dict[str, Any], *, deployment: str, dag_id: str, run_id: str, timeout: float
    ) -> tuple[dict[str, Any], bool]:
        """Create ``body``, or reuse the run's own cluster of that name; ``(cluster, created)``.

        A cluster of that name still being deleted (a cleared run whose teardown just ran) is
        waited out, then made again. One of another run is refused, never taken over.
        """
        name = body["metadata"]["name"]
        deadline = self._monotonic() + timeout
        while True:
            existing = self.api.get_cluster(self.namespace, name)
            if existing is None:
                try:
                    return self.api.create_cluster(self.namespace, body), True
                except RayClusterApiError as exc:
                    if exc.status != 409:
                        raise
                    continue  # made meanwhile (a second try of the same setup): look again
            if not spec.belongs_to_run(existing, deployment, dag_id, run_id):
                raise RayClusterApiError(
                    f"RayCluster {self.namespace}/{name} exists and belongs to another DAG run "
                    f"({_run_of(existing)}); refusing to take it over. Delete it with `kubectl "
                    f"delete raycluster {name} -n {self.namespace}` if it is a leftover."
                )
            if not (existing.get("metadata") or {}).get("deletionTimestamp"):
                self.log.info(
                    "RayCluster %s/%s of this run exists already (an earlier try made it); "
                    "using it",
                    self.namespace,
                    name,
                )
                return existing, False
            if self._monotonic() > deadline:
                raise RayClusterNotReadyError(
                    f"RayCluster {self.namespace}/{name} of an earlier try of this run is still "
                    f"being deleted after {timeout:.0f} s; see `kubectl describe raycluster "
                    f"{name} -n {self.namespace}`."
                )
            self.log.info("Waiting for the earlier RayCluster %s to be deleted", name)
            self._sleep(2.0)

    def wait_ready(self, name: str, *, timeout: float, poll: float = 3.0) -> dict[str, Any]:
        """Poll until KubeRay reports the cluster ready; log progress; fail with the reason."""
        started = self._monotonic()
        last_summary, last_log = "", started - PROGRESS_SECONDS
        while True:
            cluster = self.api.get_cluster(self.namespace, name)
            if cluster is None:
                raise RayClusterNotReadyError(
                    f"RayCluster {self.namespace}/{name} disappeared while starting (deleted "
                    "by someone, or by a sweep of expired clusters)."
                )
            state, summary = spec.readiness(cluster)
            elapsed = self._monotonic() - started
            if state == "ready":
                self.log.info("RayCluster %s is ready after %.0f s (%s)", name, elapsed, summary)
                return cluster
            if state == "failed":
                raise RayClusterNotReadyError(
                    f"KubeRay reports RayCluster {self.namespace}/{name} failed: {summary}. "
                    f"See `kubectl describe raycluster {name} -n {self.namespace}`."
                )
            if summary != last_summary or self._monotonic() - last_log >= PROGRESS_SECONDS:
                self.log.info("RayCluster %s starting (%.0f s): %s", name, elapsed, summary)
                last_summary, last_log = summary, self._monotonic()
            if elapsed > timeout:
                raise RayClusterNotReadyError(
                    f"RayCluster {self.namespace}/{name} is not ready after {timeout:.0f} s "
                    f"({summary}). Its pods may wait for nodes or images: see `kubectl get "
                    f"pods -n {self.namespace} -l ray.io/cluster={name}` and `kubectl "
                    f"describe raycluster {name} -n {self.namespace}`; raise ready_timeout "
                    "for a cluster that scales up GPU nodes."
                )
            self._sleep(poll)

    def delete(self, name: str, *, wait: float = 0.0) -> bool:
        """Delete the cluster (False: there was none); with ``wait``, until it is gone."""
        deleted = self.api.delete_cluster(self.namespace, name)
        if deleted:
            self.log.info("Deleting RayCluster %s/%s", self.namespace, name)
        deadline = self._monotonic() + wait
        while wait and self.api.get_cluster(self.namespace, name) is not None:
            if self._monotonic() > deadline:
                self.log.warning(
                    "RayCluster %s/%s is still being deleted after %.0f s; KubeRay finishes it",
                    self.namespace,
                    name,
                    wait,
                )
                break
            self._sleep(2.0)
        return deleted

    def sweep_expired(self) -> list[str]:
        """Delete every per-run cluster past its expiry (left by a run that never tore down)."""
        now = self._now()
        swept = []
        for cluster in self.api.list_clusters(self.namespace, spec.PER_RUN_SELECTOR):
            meta = cluster.get("metadata") or {}
            expiry = spec.expires_at(cluster)
            if expiry is None or expiry > now or meta.get("deletionTimestamp"):
                continue
            name = meta.get("name", "")
            self.log.warning(
                "Deleting RayCluster %s/%s: it expired at %s (%s), its teardown never ran",
                self.namespace,
                name,
                expiry.isoformat(),
                _run_of(cluster),
            )
            if self.api.delete_cluster(self.namespace, name):
                swept.append(name)
        return swept


def _run_of(cluster: dict[str, Any]) -> str:
    annotations = (cluster.get("metadata") or {}).get("annotations") or {}
    dag_id = annotations.get(spec.ANNOTATION_DAG_ID, "?")
    return f"{dag_id}/{annotations.get(spec.ANNOTATION_RUN_ID, '?')}"
