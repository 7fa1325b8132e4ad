"""A per-run RayCluster from a template: its name, labels, expiry and version checks.

Pure functions on plain dicts (no Kubernetes client), so every rule is tested offline and the
chart's rendered template is validated against KubeRay's CRD in ``make test``.

The template is a whole ``ray.io/v1`` RayCluster (the Helm chart renders the one of its own
cluster into a ConfigMap). A run's copy gets:

- the name ``<template name>-<10 hex of deployment, DAG id and run id>``: the same run always
  maps to the same name, so a retried setup finds its cluster instead of making a second one;
- labels that mark it per-run (``ray-platform/per-run``) and name the template, so leftovers
  are found by a label selector, and annotations with its DAG run and an expiry time, after
  which any later setup or teardown deletes it (a scheduler that crashed never ran teardown).
"""

from __future__ import annotations

import copy
import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from ray_provider.exceptions import RayClusterTemplateError

GROUP = "ray.io"
VERSION = "v1"
PLURAL = "rayclusters"
KIND = "RayCluster"

LABEL_PER_RUN = "ray-platform/per-run"
LABEL_TEMPLATE = "ray-platform/template"
LABEL_RUN_HASH = "ray-platform/run-hash"
ANNOTATION_DAG_ID = "ray-platform/dag-id"
ANNOTATION_RUN_ID = "ray-platform/run-id"
ANNOTATION_EXPIRES = "ray-platform/expires-at"
# Set by the chart on the template: the Python minor version of its Ray image.
ANNOTATION_PYTHON = "ray-platform/python"
PER_RUN_SELECTOR = f"{LABEL_PER_RUN}=true"

# KubeRay's ports on the head Service "<name>-head-svc".
CLIENT_PORT = 10001
DASHBOARD_PORT = 8265
# The head Service name must stay a DNS label (63) with "-head-svc"; KubeRay shortens longer
# cluster names in pod names, which makes them harder to find.
MAX_NAME = 40
_HASH_CHARS = 10
_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_IMAGE_PYTHON = re.compile(r"-py(3)(\d{1,2})(?:\b|-|$)")


def run_hash(deployment: str, dag_id: str, run_id: str) -> str:
    """10 hex characters naming one DAG run of one deployment (a label value)."""
    text = "\0".join((deployment, dag_id, run_id))
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH_CHARS]


def cluster_name(prefix: str, deployment: str, dag_id: str, run_id: str) -> str:
    """``<prefix>-<run hash>``, a DNS label of at most ``MAX_NAME`` characters."""
    base = re.sub(r"[^a-z0-9-]+", "-", prefix.lower()).strip("-")
    base = base[: MAX_NAME - _HASH_CHARS - 1].rstrip("-") or "ray-run"
    if not base[0].isalpha():
        base = f"r{base}"[: MAX_NAME - _HASH_CHARS - 1]
    return f"{base}-{run_hash(deployment, dag_id, run_id)}"


def head_service_name(name: str) -> str:
    """The head's Service, as KubeRay names it."""
    return f"{name}-head-svc"


def head_service(name: str, namespace: str) -> str:
    return f"{head_service_name(name)}.{namespace}.svc"


def client_address(name: str, namespace: str) -> str:
    return f"ray://{head_service(name, namespace)}:{CLIENT_PORT}"


def dashboard_address(name: str, namespace: str) -> str:
    return f"http://{head_service(name, namespace)}:{DASHBOARD_PORT}"


def check_template(template: Any, source: str) -> dict[str, Any]:
    """Refuse what is not a RayCluster with a head group; returns the template."""
    if not isinstance(template, dict):
        raise RayClusterTemplateError(
            f"{source}: the RayCluster template is a {type(template).__name__}, not a mapping."
        )
    api_version, kind = template.get("apiVersion"), template.get("kind")
    if (api_version, kind) != (f"{GROUP}/{VERSION}", KIND):
        raise RayClusterTemplateError(
            f"{source}: the template is apiVersion {api_version!r} kind {kind!r}; it must be "
            f"apiVersion {GROUP}/{VERSION} kind {KIND} (KubeRay 1.x)."
        )
    spec = template.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("headGroupSpec"), dict):
        raise RayClusterTemplateError(f"{source}: the template has no spec.headGroupSpec.")
    return template


def check_versions(
    template: dict[str, Any], *, ray_version: str, python_minor: str, source: str
) -> list[str]:
    """Refuse a template whose Ray or Python differ from this Airflow side's.

    Ray Client refuses a cluster of another Ray version or Python minor version, after the
    cluster has been created and paid for: check before. Returns warnings for what cannot be
    told (no rayVersion, an image that names no Python).
    """
    warnings: list[str] = []
    spec = template["spec"]
    cluster_ray = str(spec.get("rayVersion") or "")
    if not cluster_ray:
        warnings.append(f"{source}: spec.rayVersion is not set; cannot check it is {ray_version}")
    elif cluster_ray != ray_version:
        raise RayClusterTemplateError(
            f"{source}: spec.rayVersion is {cluster_ray}, this Airflow runs Ray {ray_version}; "
            "Ray Client needs the same version on both sides. Use an image and rayVersion of "
            f"Ray {ray_version} (the chart's versions.ray), or upgrade Airflow's Ray."
        )
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    annotated = str(annotations.get(ANNOTATION_PYTHON) or "")
    pythons = {annotated} if annotated else set()
    for image in _images(spec):
        match = _IMAGE_PYTHON.search(image.rpartition(":")[2])
        if match:
            pythons.add(f"{match.group(1)}.{match.group(2)}")
    if not pythons:
        warnings.append(
            f"{source}: neither the {ANNOTATION_PYTHON} annotation nor an image tag (-py311) "
            f"names the Ray image's Python; cannot check it is {python_minor}"
        )
    for python in sorted(pythons):
        if python != python_minor:
            raise RayClusterTemplateError(
                f"{source}: the Ray image runs Python {python}, this Airflow runs Python "
                f"{python_minor}; Ray Client needs the same minor version on both sides. Use "
                f"a Ray image for Python {python_minor} (the chart's versions.python)."
            )
    return warnings


def _images(spec: dict[str, Any]) -> list[str]:
    groups = [spec.get("headGroupSpec") or {}, *(spec.get("workerGroupSpecs") or [])]
    return [
        str(container.get("image"))
        for group in groups
        for container in ((group.get("template") or {}).get("spec") or {}).get("containers") or []
        if container.get("image") and str(container.get("name", "")).startswith("ray-")
    ]


def build_run_cluster(
    template: dict[str, Any],
    *,
    name: str,
    namespace: str,
    template_name: str,
    deployment: str,
    dag_id: str,
    run_id: str,
    expires_at: datetime,
    image: str | None = None,
    worker_replicas: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The RayCluster object of one run, made from a checked template (left unchanged).

    ``image`` replaces the image of every Ray container (head and workers; the keeper sidecar
    too, which runs the provider from the same image). ``worker_replicas`` sets the replicas
    of named worker groups (raising maxReplicas, and lowering minReplicas, where needed).
    """
    if not _DNS_LABEL.fullmatch(name) or len(name) > MAX_NAME:
        raise RayClusterTemplateError(
            f"Cluster name {name!r} is not a DNS label of at most {MAX_NAME} characters."
        )
    body = copy.deepcopy(template)
    spec = body["spec"]
    source = body.get("metadata") or {}
    labels = {
        **(source.get("labels") or {}),
        LABEL_PER_RUN: "true",
        LABEL_TEMPLATE: _label_value(template_name),
        LABEL_RUN_HASH: run_hash(deployment, dag_id, run_id),
    }
    annotations = {
        **(source.get("annotations") or {}),
        ANNOTATION_DAG_ID: dag_id,
        ANNOTATION_RUN_ID: run_id,
        ANNOTATION_EXPIRES: expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    body["metadata"] = {
        "name": name,
        "namespace": namespace,
        "labels": labels,
        "annotations": annotations,
    }
    body.pop("status", None)
    if image:
        _set_image(spec, image)
    if worker_replicas:
        _set_replicas(spec, worker_replicas, template_name)
    return body


def _label_value(value: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", value)[:63].strip("-_.")
    return cleaned or "template"


def _set_image(spec: dict[str, Any], image: str) -> None:
    groups = [spec["headGroupSpec"], *(spec.get("workerGroupSpecs") or [])]
    for group in groups:
        pod = (group.get("template") or {}).get("spec") or {}
        for container in pod.get("containers") or []:
            if (
                str(container.get("name", "")).startswith("ray-")
                or container.get("name") == "registry-keeper"
            ):
                container["image"] = image


def _set_replicas(spec: dict[str, Any], replicas: dict[str, int], source: str) -> None:
    groups = {g.get("groupName"): g for g in spec.get("workerGroupSpecs") or []}
    for group_name, count in replicas.items():
        if isinstance(count, str) and count.strip().isdigit():
            count = int(count)  # a Jinja template ("{{ params.workers }}") renders to text
        if group_name not in groups:
            raise RayClusterTemplateError(
                f"worker_replicas names group {group_name!r}; template {source!r} has "
                f"{sorted(str(g) for g in groups) or 'no worker groups'}."
            )
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise RayClusterTemplateError(
                f"worker_replicas[{group_name!r}] is {count!r}; give a whole number >= 0."
            )
        group = groups[group_name]
        group["replicas"] = count
        group["minReplicas"] = min(int(group.get("minReplicas", 0)), count)
        group["maxReplicas"] = max(int(group.get("maxReplicas", count)), count)


def expires_at(cluster: dict[str, Any]) -> datetime | None:
    """The expiry annotation of a per-run cluster (None: none, or unreadable)."""
    value = ((cluster.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_EXPIRES)
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def belongs_to_run(cluster: dict[str, Any], deployment: str, dag_id: str, run_id: str) -> bool:
    labels = (cluster.get("metadata") or {}).get("labels") or {}
    return labels.get(LABEL_RUN_HASH) == run_hash(deployment, dag_id, run_id)


def readiness(cluster: dict[str, Any]) -> tuple[str, str]:
    """``("ready" | "failed" | "pending", summary)`` from a RayCluster's status.

    KubeRay 1.5 and 1.7 set ``status.state`` ("ready" once the head and the workers run);
    1.7 also sets conditions (``HeadPodReady``, ``RayClusterProvisioned``), read when the
    state is absent. A ``ReplicaFailure`` condition or state "failed" is a failure.
    """
    status = cluster.get("status") or {}
    state = str(status.get("state") or "")
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)}
    ready_workers = status.get("readyWorkerReplicas", 0)
    desired = status.get("desiredWorkerReplicas", 0)
    head_ip = (status.get("head") or {}).get("podIP") or "-"
    summary = (
        f"state {state or '-'}, workers ready {ready_workers}/{desired}, head pod IP {head_ip}"
    )
    failure = conditions.get("ReplicaFailure")
    if state == "failed" or (failure and failure.get("status") == "True"):
        reason = status.get("reason") or (failure or {}).get("message") or "no reason given"
        return "failed", f"{summary}: {reason}"
    if state == "ready":
        return "ready", summary
    provisioned = conditions.get("RayClusterProvisioned", {}).get("status") == "True"
    head_ready = conditions.get("HeadPodReady", {}).get("status") == "True"
    if not state and provisioned and head_ready:
        return "ready", summary
    return "pending", summary
