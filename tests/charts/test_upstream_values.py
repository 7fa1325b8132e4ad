"""Our values for the upstream charts (Airflow, KubeRay operator) set only keys those charts have.

The upstream values.yaml files are vendored in tests/charts/upstream/ (sources in their headers).
A key is accepted when the upstream file has it, or when it sits under a free-form map: an empty
map, list or null upstream, or one of OPEN_MAPS (Kubernetes objects, airflow.cfg sections).
"""

from __future__ import annotations

import pytest

from tests.charts.conftest import UPSTREAM, VALUES, load_yaml

# Paths whose children are free-form upstream: resource requirements and airflow.cfg sections.
OPEN_MAPS = {"config", "resources"}

OURS = {
    "airflow.yaml": "airflow-chart-values.yaml",
    "airflow-kind.yaml": "airflow-chart-values.yaml",
    "airflow-cloud.yaml": "airflow-chart-values.yaml",
    "kuberay-operator.yaml": "kuberay-operator-1.7.0-values.yaml",
}


def unknown_keys(ours, upstream, path=""):
    """Key paths set in `ours` that `upstream` does not document."""
    if not isinstance(ours, dict):
        return []
    missing = []
    for key, value in ours.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in upstream:
            missing.append(where)
            continue
        known = upstream[key]
        if key in OPEN_MAPS or not isinstance(known, dict) or not known:
            continue  # scalar, list, null or {} upstream: what goes below is free-form
        missing += unknown_keys(value, known, where)
    return missing


@pytest.mark.parametrize(("ours", "theirs"), OURS.items())
def test_values_only_set_keys_the_upstream_chart_documents(ours, theirs):
    values = load_yaml(VALUES / ours)
    assert isinstance(values, dict) and values, f"{ours} did not parse to a mapping"
    missing = unknown_keys(values, load_yaml(UPSTREAM / theirs))
    assert not missing, f"{ours} sets keys that {theirs} does not have: {missing}"


def test_the_key_check_catches_a_typo():
    upstream = load_yaml(UPSTREAM / "airflow-chart-values.yaml")
    assert unknown_keys({"apiServer": {"servce": {"type": "NodePort"}}}, upstream) == [
        "apiServer.servce"
    ]
    assert unknown_keys({"executr": "LocalExecutor"}, upstream) == ["executr"]
    assert not unknown_keys({"config": {"api": {"workers": 1}}}, upstream)


def test_upstream_files_name_their_source_and_license():
    vendored_crds = {
        "ray.io_rayclusters-1.7.0.yaml",
        "monitoring.coreos.com_podmonitors-0.93.0.yaml",
    }
    for name in {*OURS.values(), *vendored_crds}:
        head = (UPSTREAM / name).read_text()[:1200]
        assert "github.com/" in head and "Apache" in head, name


def test_airflow_values_pick_the_executor_database_and_connections():
    base = load_yaml(VALUES / "airflow.yaml")
    assert base["executor"] == "LocalExecutor"
    assert base["postgresql"]["enabled"] is False  # the bundled Bitnami chart is unmaintained
    assert base["dagProcessor"]["enabled"] is True
    env = {e["name"]: e["value"] for e in base["env"]}
    assert env["AIRFLOW__CORE__XCOM_BACKEND"] == "ray_provider.xcom.RayXComBackend"
    assert "ray-platform-airflow-connections" in base["extraEnvFrom"]
    for profile in ("airflow-kind.yaml", "airflow-cloud.yaml"):
        assert load_yaml(VALUES / profile)["data"]["metadataSecretName"]
    cloud = load_yaml(VALUES / "airflow-cloud.yaml")
    assert cloud["apiServer"]["service"]["type"] == "ClusterIP"
    assert cloud["ingress"]["apiServer"]["enabled"] is False
