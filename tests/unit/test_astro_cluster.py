"""astro-provider-ray's SetupRayCluster / DeleteRayCluster / xcom_task_key, mapped here."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import yaml

from ray_provider.compat.astro_cluster import (
    cluster_from_xcom_key,
    connection_namespace,
    kubernetes_from_connection,
)
from ray_provider.exceptions import RayArgumentError, RayClusterApiError
from ray_provider.operators import DeleteRayCluster, SetupRayCluster, SubmitRayJob

HANDLE = {"name": "ray-run-1", "address": "ray://ray-run-1-head-svc.ns.svc:10001", "sig": "x"}


class FakeTi:
    def __init__(self, results: dict) -> None:
        self.results = results
        self.pulled: list[str] = []

    def xcom_pull(self, task_ids: str):
        self.pulled.append(task_ids)
        return self.results.get(task_ids)


def test_the_key_names_the_setup_task_whose_handle_is_used():
    ti = FakeTi({"SetupRayCluster": HANDLE})
    assert cluster_from_xcom_key("SetupRayCluster.dashboard", ti, "job") == HANDLE
    assert ti.pulled == ["SetupRayCluster"]


@pytest.mark.parametrize("key", ["dashboard", ".dashboard", "SetupRayCluster."])
def test_a_key_without_a_task_is_refused(key):
    with pytest.raises(RayArgumentError, match=r"expected 'SETUP_TASK\.dashboard'"):
        cluster_from_xcom_key(key, FakeTi({}), "job")


@pytest.mark.parametrize("result", [None, "http://10.0.0.1:8265"])
def test_a_task_that_made_no_cluster_is_refused_naming_it(result):
    ti = FakeTi({"other": result})
    with pytest.raises(RayArgumentError, match="task 'other' of this run left no per-run cluster"):
        cluster_from_xcom_key("other.dashboard", ti, "job")


def test_submit_ray_job_takes_its_cluster_from_the_setup(monkeypatch):
    job = SubmitRayJob(
        task_id="job",
        conn_id="ray_conn",
        entrypoint="python x.py",
        runtime_env={},
        xcom_task_key="SetupRayCluster.dashboard",
    )
    seen = {}

    def jobs(self, ti=None):
        seen["cluster"] = self.ray_cluster
        return "jobs"

    from ray_provider.operators.ray_job import RaySubmitJobOperator

    monkeypatch.setattr(RaySubmitJobOperator, "jobs", jobs)
    assert job.jobs(FakeTi({"SetupRayCluster": HANDLE})) == "jobs"
    assert seen["cluster"] == HANDLE


def kubeconfig(tmp_path, namespace: str = "team-a") -> str:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [
            {"name": "ctx", "context": {"cluster": "c", "user": "u", "namespace": namespace}}
        ],
        "current-context": "ctx",
    }
    return yaml.safe_dump(config)


def set_connection(monkeypatch, **extra) -> None:
    conn = {"conn_type": "ray", "host": "http://127.0.0.1:8265", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_RAY_K8S", json.dumps(conn))


def test_the_connections_kubeconfig_text_is_used_and_not_left_on_disk(monkeypatch, tmp_path):
    pytest.importorskip("kubernetes")
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    set_connection(monkeypatch, kube_config=kubeconfig(tmp_path), cluster_context="ctx")
    api = kubernetes_from_connection("ray_k8s")
    assert api.host == "https://127.0.0.1:6443" and "ctx" in api.identity
    assert not list(tmp_path.glob("kubeconfig-*"))


def test_a_kubeconfig_path_and_text_together_are_refused(monkeypatch, tmp_path):
    set_connection(monkeypatch, kube_config="x", kube_config_path=str(tmp_path / "k"))
    with pytest.raises(RayArgumentError, match="kube_config_path and kube_config are both set"):
        kubernetes_from_connection("ray_k8s")


def test_a_missing_kubeconfig_path_names_the_fix(monkeypatch, tmp_path):
    pytest.importorskip("kubernetes")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    set_connection(monkeypatch, kube_config_path=str(tmp_path / "missing"))
    with pytest.raises(RayClusterApiError, match="kube_config_path"):
        kubernetes_from_connection("ray_k8s")


def test_the_namespace_comes_from_the_yaml_then_the_connection(monkeypatch, tmp_path):
    # This provider's own connection: "namespace" is the Ray namespace, not Kubernetes's.
    set_connection(monkeypatch, namespace="airflow")
    assert connection_namespace("ray_k8s") == ""
    set_connection(monkeypatch, namespace="from-connection", kube_config_path="/k/config")
    assert connection_namespace("ray_k8s") == "from-connection"
    with_namespace = tmp_path / "ray.yaml"
    with_namespace.write_text("kind: RayCluster\nmetadata: {name: r, namespace: from-yaml}\n")
    without = tmp_path / "plain.yaml"
    without.write_text("kind: RayCluster\nmetadata: {name: r}\n")
    setup = SetupRayCluster(task_id="s", conn_id="ray_k8s", ray_cluster_yaml=str(with_namespace))
    assert setup.resolved_namespace() == "from-yaml"
    setup = SetupRayCluster(task_id="s2", conn_id="ray_k8s", ray_cluster_yaml=str(without))
    assert setup.resolved_namespace() == "from-connection"


def test_setup_work_delete_in_a_dag_makes_the_delete_a_teardown(tmp_path):
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    with DAG("astro_clusters", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        setup = SetupRayCluster(
            task_id="SetupRayCluster",
            conn_id="ray_k8s",
            ray_cluster_yaml="ray.yaml",
            kuberay_version="1.0.0",
        )
        work = EmptyOperator(task_id="work")
        delete = DeleteRayCluster(
            task_id="DeleteRayCluster", conn_id="ray_k8s", ray_cluster_yaml="ray.yaml"
        )
        setup >> work >> delete
    assert dag.task_dict["SetupRayCluster"].is_setup
    assert dag.task_dict["DeleteRayCluster"].is_teardown
    assert setup.ignored == {"kuberay_version": "1.0.0"}
    assert delete.upstream_task_ids == {"work"}


def test_setup_needs_a_yaml():
    with pytest.raises(RayArgumentError, match="give ray_cluster_yaml"):
        SetupRayCluster(task_id="s", conn_id="ray_k8s", ray_cluster_yaml="")
