"""Per-run clusters in the chart: the template ConfigMap, made into a run's RayCluster by the
provider's own code and validated against KubeRay's CRD; the Role; the NetworkPolicies."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
import yaml

from ray_provider.client import run_cluster_spec as spec
from tests.charts.conftest import NAMESPACE, VALUES, of_kind, one, render
from tests.charts.test_chart import kuberay_schema, raycluster, schema_errors

ON = ["--set", "perRunClusters.enabled=true"]
KIND = ["-f", str(VALUES / "kind.yaml")]


@pytest.fixture(scope="module")
def docs(helm) -> list[dict]:
    return render(helm, *KIND, *ON, "--set", "perRunClusters.workers.cpu.replicas=0")


def run_template(docs: list[dict]) -> dict:
    config_map = one(docs, "ConfigMap", "ray-platform-run-cluster")
    return yaml.safe_load(config_map["data"]["raycluster.yaml"])


def run_cluster(template: dict) -> dict:
    return spec.build_run_cluster(
        spec.check_template(template, "chart"),
        name=spec.cluster_name(template["metadata"]["name"], "dep", "dag", "manual__1"),
        namespace=NAMESPACE,
        template_name=template["metadata"]["name"],
        deployment="dep",
        dag_id="dag",
        run_id="manual__1",
        expires_at=datetime(2026, 12, 5, tzinfo=UTC),
        worker_replicas={"cpu": 1},
    )


def test_nothing_is_rendered_unless_enabled(rendered):
    names = {d["metadata"]["name"] for d in rendered["kind"]}
    assert not {"ray-platform-run-cluster", "ray-platform-run-clusters"} & names


@pytest.mark.parametrize("version", ["1.7.0", "1.5.0"])
def test_a_runs_cluster_from_the_template_fits_the_kuberay_crd(helm, version):
    method = "authOptions" if version == "1.7.0" else "env"
    docs = render(helm, *KIND, *ON, "--set", f"ray.auth.method={method}")
    cluster = run_cluster(run_template(docs))
    assert not schema_errors(kuberay_schema(version), cluster)
    broken = run_cluster(run_template(docs))
    broken["spec"]["headGroupSpec"]["rayStartParam"] = {}
    assert schema_errors(kuberay_schema(version), broken)


def test_the_template_is_the_charts_cluster_with_the_overrides(docs, lock):
    template = run_template(docs)
    chart_cluster = raycluster(docs)
    assert template["spec"]["rayVersion"] == chart_cluster["spec"]["rayVersion"]
    assert template["spec"]["workerGroupSpecs"][0]["replicas"] == 0
    assert chart_cluster["spec"]["workerGroupSpecs"][0]["replicas"] == 1
    # The provider's version check passes for the versions uv.lock pins on the Airflow side.
    assert not spec.check_versions(
        template, ray_version=lock["ray"], python_minor=lock["python"], source="chart"
    )
    for group in [template["spec"]["headGroupSpec"], *template["spec"]["workerGroupSpecs"]]:
        labels = group["template"]["metadata"]["labels"]
        assert labels["ray-platform/run-cluster-of"] == "ray-platform"


def test_the_role_allows_only_rayclusters_and_the_template(docs):
    role = one(docs, "Role", "ray-platform-run-clusters")
    resources = {(tuple(r["apiGroups"]), tuple(r["resources"])) for r in role["rules"]}
    assert resources == {(("ray.io",), ("rayclusters",)), (("",), ("configmaps",))}
    config_rule = next(r for r in role["rules"] if r["resources"] == ["configmaps"])
    assert config_rule["resourceNames"] == ["ray-platform-run-cluster"]
    assert config_rule["verbs"] == ["get"]
    binding = one(docs, "RoleBinding", "ray-platform-run-clusters")
    assert {s["name"] for s in binding["subjects"]} == {
        "airflow-scheduler",
        "airflow-worker",
        "airflow-triggerer",
    }


def test_the_network_policies_cover_the_run_clusters_pods(docs):
    policies = {d["metadata"]["name"]: d for d in of_kind(docs, "NetworkPolicy")}
    run = policies["ray-platform-run-clusters"]
    label = {"ray-platform/run-cluster-of": "ray-platform"}
    assert run["spec"]["podSelector"]["matchLabels"] == label
    assert run["spec"]["ingress"] == [
        {**rule, "from": [{"podSelector": {"matchLabels": label}}]} if i == 0 else rule
        for i, rule in enumerate(policies["ray-platform-ray"]["spec"]["ingress"])
    ]
    store_peers = policies["ray-platform-store"]["spec"]["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": label}} in store_peers


def test_airflow_gets_the_template_and_namespace(docs):
    secret = one(docs, "Secret", "ray-platform-airflow-connections")
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["AIRFLOW__RAY_PROVIDER__CLUSTER_TEMPLATE"] == "ray-platform-run-cluster"
    assert data["AIRFLOW__RAY_PROVIDER__CLUSTER_NAMESPACE"] == NAMESPACE


def test_the_values_schema_refuses_a_misspelt_key(helm):
    from tests.charts.conftest import run_helm

    result = run_helm(helm, *ON, "--set", "perRunClusters.rbac.serviceAcounts={x}")
    assert result.returncode != 0
    assert "serviceAcounts" in result.stderr
