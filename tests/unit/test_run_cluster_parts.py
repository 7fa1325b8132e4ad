"""Per-run clusters without a cluster: the RayCluster made from a template, the signed handle,
and the lifecycle rules of RunClusters against an in-memory stand-in for the Kubernetes API
(the real API is exercised by make e2e on kind)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ray_provider.client import run_cluster_spec as spec
from ray_provider.client.reference import RayResultRef
from ray_provider.client.run_cluster import RunClusterHandle, resolve_cluster
from ray_provider.client.run_clusters import RunClusters
from ray_provider.client.settings import RaySettings
from ray_provider.exceptions import (
    RayClusterApiError,
    RayClusterNotReadyError,
    RayClusterTemplateError,
    RayConnectionConfigError,
    RayReferenceError,
)

KEY = b"k" * 40
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def template(**spec_overrides) -> dict:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "ray-platform-run", "annotations": {spec.ANNOTATION_PYTHON: "3.11"}},
        "spec": {
            "rayVersion": "2.60.0",
            "headGroupSpec": {
                "template": {
                    "spec": {"containers": [{"name": "ray-head", "image": "r/ray:2.60.0-py311"}]}
                }
            },
            "workerGroupSpecs": [
                {
                    "groupName": "cpu",
                    "replicas": 1,
                    "minReplicas": 0,
                    "maxReplicas": 2,
                    "template": {
                        "spec": {
                            "containers": [{"name": "ray-worker", "image": "r/ray:2.60.0-py311"}]
                        }
                    },
                }
            ],
            **spec_overrides,
        },
    }


def build(**kwargs) -> dict:
    args = dict(
        name=spec.cluster_name("ray-platform-run", "dep", "dag", "run1"),
        namespace="ns",
        template_name="ray-platform-run",
        deployment="dep",
        dag_id="dag",
        run_id="run1",
        expires_at=NOW + timedelta(hours=1),
    )
    args.update(kwargs)
    return spec.build_run_cluster(template(), **args)


# ---- the RayCluster of a run -------------------------------------------------------------


def test_the_name_is_the_same_for_a_run_and_differs_between_runs():
    one = spec.cluster_name("ray-platform-run", "dep", "dag", "run1")
    assert one == spec.cluster_name("ray-platform-run", "dep", "dag", "run1")
    assert one != spec.cluster_name("ray-platform-run", "dep", "dag", "run2")
    assert one != spec.cluster_name("ray-platform-run", "other", "dag", "run1")
    long = spec.cluster_name("A_Very_Long_Template_Name_" * 4, "dep", "dag", "run1")
    assert len(long) <= spec.MAX_NAME and long[0].isalpha() and long == long.lower()


def test_a_run_cluster_carries_its_labels_expiry_and_addresses():
    body = build()
    meta = body["metadata"]
    assert meta["labels"][spec.LABEL_PER_RUN] == "true"
    assert meta["labels"][spec.LABEL_RUN_HASH] == spec.run_hash("dep", "dag", "run1")
    assert meta["annotations"][spec.ANNOTATION_RUN_ID] == "run1"
    assert spec.expires_at(body) == NOW + timedelta(hours=1)
    assert spec.belongs_to_run(body, "dep", "dag", "run1")
    assert not spec.belongs_to_run(body, "dep", "dag", "run2")
    assert spec.client_address(meta["name"], "ns") == f"ray://{meta['name']}-head-svc.ns.svc:10001"


def test_image_and_replicas_are_overridden_without_touching_the_template():
    source = template()
    body = spec.build_run_cluster(
        source,
        name="ray-run-abc",
        namespace="ns",
        template_name="t",
        deployment="d",
        dag_id="g",
        run_id="r",
        expires_at=NOW,
        image="r/ray:custom-py311",
        worker_replicas={"cpu": 3},
    )
    worker = body["spec"]["workerGroupSpecs"][0]
    assert (worker["replicas"], worker["maxReplicas"]) == (3, 3)
    assert worker["template"]["spec"]["containers"][0]["image"] == "r/ray:custom-py311"
    assert source["spec"]["workerGroupSpecs"][0]["replicas"] == 1
    with pytest.raises(RayClusterTemplateError, match="group 'gpu'"):
        build(worker_replicas={"gpu": 1})
    with pytest.raises(RayClusterTemplateError, match="whole number"):
        build(worker_replicas={"cpu": -1})
    # A templated count ("{{ params.workers }}") arrives rendered as text.
    rendered = build(worker_replicas={"cpu": "2"})["spec"]["workerGroupSpecs"][0]
    assert rendered["replicas"] == 2
    with pytest.raises(RayClusterTemplateError, match="whole number"):
        build(worker_replicas={"cpu": "two"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"apiVersion": "v1"}, "apiVersion ray.io/v1 kind RayCluster"),
        ({"spec": {}}, "no spec.headGroupSpec"),
    ],
)
def test_what_is_not_a_raycluster_is_refused(change, message):
    with pytest.raises(RayClusterTemplateError, match=message):
        spec.check_template({**template(), **change}, "t.yaml")


def test_ray_and_python_versions_must_match_the_airflow_side():
    assert (
        spec.check_versions(template(), ray_version="2.60.0", python_minor="3.11", source="t") == []
    )
    with pytest.raises(RayClusterTemplateError, match=r"rayVersion is 2\.60\.0.*Ray 2\.61\.0"):
        spec.check_versions(template(), ray_version="2.61.0", python_minor="3.11", source="t")
    with pytest.raises(RayClusterTemplateError, match=r"Python 3\.11.*Python 3\.12"):
        spec.check_versions(template(), ray_version="2.60.0", python_minor="3.12", source="t")
    unknown = template(rayVersion="")
    unknown["metadata"]["annotations"] = {}
    for group in [unknown["spec"]["headGroupSpec"], *unknown["spec"]["workerGroupSpecs"]]:
        group["template"]["spec"]["containers"][0]["image"] = "r/ray:latest"
    warnings = spec.check_versions(unknown, ray_version="2.60.0", python_minor="3.11", source="t")
    assert len(warnings) == 2


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ({}, "pending"),
        ({"state": "ready", "readyWorkerReplicas": 1, "desiredWorkerReplicas": 1}, "ready"),
        ({"state": "failed", "reason": "image pull"}, "failed"),
        (
            {
                "conditions": [
                    {"type": "HeadPodReady", "status": "True"},
                    {"type": "RayClusterProvisioned", "status": "True"},
                ]
            },
            "ready",
        ),
        (
            {"conditions": [{"type": "ReplicaFailure", "status": "True", "message": "quota"}]},
            "failed",
        ),
    ],
)
def test_readiness_follows_kuberay_status(status, state):
    assert spec.readiness({"status": status})[0] == state


# ---- the signed handle -------------------------------------------------------------------


def handle(**kwargs) -> RunClusterHandle:
    fields = dict(
        deployment="dep",
        dag_id="dag",
        run_id="run1",
        name="c",
        namespace="ns",
        address="ray://c-head-svc.ns.svc:10001",
    )
    fields.update(kwargs)
    return RunClusterHandle(**fields)


def test_a_signed_handle_resolves_to_its_address_in_its_own_run():
    value = handle().signed(KEY).to_xcom()
    got = resolve_cluster(value, key=KEY, deployment="dep", dag_id="dag", run_id="run1")
    assert got == ("ray://c-head-svc.ns.svc:10001", "")


def test_an_edited_or_foreign_handle_is_refused():
    edited = handle().signed(KEY).to_xcom() | {"address": "ray://evil:10001"}
    with pytest.raises(RayReferenceError, match="signature"):
        resolve_cluster(edited, key=KEY, deployment="dep", dag_id="dag", run_id="run1")
    other_run = handle().signed(KEY).to_xcom()
    with pytest.raises(RayReferenceError, match="another DAG run"):
        resolve_cluster(other_run, key=KEY, deployment="dep", dag_id="dag", run_id="run2")
    with pytest.raises(RayReferenceError, match="not the handle"):
        resolve_cluster({"address": "x"}, key=KEY, deployment="dep", dag_id="dag", run_id="run1")


def test_settings_on_a_cluster_keep_the_token_and_refuse_other_addresses():
    base = RaySettings(conn_id="c", address="ray://main:10001", token="t", dashboard_url="http://x")
    moved = base.on_cluster("ray://run-head-svc.ns.svc:10001", "http://run-head-svc.ns.svc:8265")
    assert (moved.address, moved.token, moved.address_from_task) == (
        "ray://run-head-svc.ns.svc:10001",
        "t",
        True,
    )
    assert moved.jobs_api_base == "http://run-head-svc.ns.svc:8265"
    assert base.on_cluster(None) is base
    with pytest.raises(RayConnectionConfigError, match="ray_cluster"):
        base.on_cluster("local")


def test_a_reference_signs_its_cluster_and_older_references_still_verify():
    ref = RayResultRef(
        deployment="dep",
        dag_id="dag",
        run_id="r",
        task_id="t",
        map_index=-1,
        generation="g",
        namespace="n",
        ray_conn_id="c",
    )
    plain = ref.signed(KEY)
    plain.check(key=KEY, deployment="dep", dag_id="dag", run_id="r")  # no ray_address field
    on_cluster = RayResultRef(**{**ref.__dict__, "ray_address": "ray://a:10001"}).signed(KEY)
    on_cluster.check(key=KEY, deployment="dep", dag_id="dag", run_id="r")
    moved = RayResultRef.from_xcom(on_cluster.to_xcom() | {"ray_address": "ray://evil:10001"})
    with pytest.raises(RayReferenceError, match="signature"):
        moved.check(key=KEY, deployment="dep", dag_id="dag", run_id="r")


# ---- the lifecycle against a stand-in API ------------------------------------------------


class FakeApi:
    """RayClusters in memory; ``statuses`` are handed out one per get, the last repeated."""

    def __init__(self) -> None:
        self.clusters: dict[str, dict] = {}
        self.statuses: list[dict] = []
        self.deleted: list[str] = []

    def create_cluster(self, namespace, body):
        name = body["metadata"]["name"]
        if name in self.clusters:
            raise RayClusterApiError("exists", 409)
        self.clusters[name] = {**body, "status": {}}
        return self.clusters[name]

    def get_cluster(self, namespace, name):
        cluster = self.clusters.get(name)
        if cluster is not None and self.statuses:
            cluster["status"] = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return cluster

    def list_clusters(self, namespace, label_selector):
        wanted = dict(part.split("=") for part in label_selector.split(","))
        return [
            c
            for c in self.clusters.values()
            if all(c["metadata"]["labels"].get(k) == v for k, v in wanted.items())
        ]

    def delete_cluster(self, namespace, name):
        self.deleted.append(name)
        return self.clusters.pop(name, None) is not None


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def run_clusters(api: FakeApi, clock: Clock | None = None) -> RunClusters:
    clock = clock or Clock()
    return RunClusters(api, "ns", now=lambda: NOW, monotonic=clock.monotonic, sleep=clock.sleep)


def test_a_retried_setup_reuses_its_runs_cluster():
    api = FakeApi()
    clusters = run_clusters(api)
    body = build()
    _, created = clusters.ensure(body, deployment="dep", dag_id="dag", run_id="run1", timeout=10)
    _, again = clusters.ensure(body, deployment="dep", dag_id="dag", run_id="run1", timeout=10)
    assert (created, again) == (True, False)
    assert len(api.clusters) == 1


def test_a_cluster_of_another_run_is_never_taken_over():
    api = FakeApi()
    clusters = run_clusters(api)
    body = build()
    api.clusters[body["metadata"]["name"]] = build(run_id="other")
    with pytest.raises(RayClusterApiError, match="another DAG run"):
        clusters.ensure(body, deployment="dep", dag_id="dag", run_id="run1", timeout=10)


def test_a_cluster_still_being_deleted_is_waited_out_then_made_again():
    api = FakeApi()
    body = build()
    name = body["metadata"]["name"]
    dying = build()
    dying["metadata"]["deletionTimestamp"] = "2026-12-04T11:59:00Z"
    api.clusters[name] = dying

    class Deleting(Clock):
        def sleep(self, seconds):
            super().sleep(seconds)
            api.clusters.pop(name, None)  # KubeRay finished the deletion

    _, created = run_clusters(api, Deleting()).ensure(
        body, deployment="dep", dag_id="dag", run_id="run1", timeout=30
    )
    assert created and "deletionTimestamp" not in api.clusters[name]["metadata"]


def test_waiting_ends_ready_or_with_kuberays_reason_or_at_the_deadline():
    api = FakeApi()
    clusters = run_clusters(api)
    body = build()
    name = body["metadata"]["name"]
    clusters.ensure(body, deployment="dep", dag_id="dag", run_id="run1", timeout=10)
    api.statuses = [{}, {}, {"state": "ready"}]
    assert clusters.wait_ready(name, timeout=60)["status"]["state"] == "ready"
    api.statuses = [{"state": "failed", "reason": "ImagePullBackOff"}]
    with pytest.raises(RayClusterNotReadyError, match="ImagePullBackOff"):
        clusters.wait_ready(name, timeout=60)
    api.statuses = [{}]
    with pytest.raises(RayClusterNotReadyError, match="not ready after 20 s"):
        clusters.wait_ready(name, timeout=20)
    api.clusters.clear()
    with pytest.raises(RayClusterNotReadyError, match="disappeared"):
        clusters.wait_ready(name, timeout=20)


def test_the_sweep_deletes_only_expired_per_run_clusters():
    api = FakeApi()
    expired = build(run_id="old", expires_at=NOW - timedelta(minutes=1))
    expired["metadata"]["name"] = "old"
    live = build(run_id="new", expires_at=NOW + timedelta(hours=1))
    live["metadata"]["name"] = "new"
    chart_cluster = {"metadata": {"name": "ray-platform", "labels": {}}}
    api.clusters = {"old": expired, "new": live, "ray-platform": chart_cluster}
    assert run_clusters(api).sweep_expired() == ["old"]
    assert sorted(api.clusters) == ["new", "ray-platform"]
