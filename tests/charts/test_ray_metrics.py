"""Optional Ray metrics: ray.metrics exposes Ray's metrics export port on every Ray pod, opens it
to Prometheus in the NetworkPolicy, and renders a PodMonitor, all off by default.

The PodMonitor is checked against the Prometheus Operator's own CRD schema (vendored in
tests/charts/upstream/, unknown fields rejected), the RayCluster against KubeRay's.
"""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from tests.charts.conftest import (
    NAMESPACE,
    UPSTREAM,
    VALUES,
    load_yaml,
    of_kind,
    one,
    render,
    run_helm,
)
from tests.charts.test_chart import (
    KUBE_VERSIONS,
    kuberay_schema,
    raycluster,
    schema_errors,
    strict_schema,
)

ON = ["-f", str(VALUES / "kind.yaml"), "--set", "ray.metrics.enabled=true"]


@pytest.fixture(scope="module")
def podmonitor_schema() -> dict:
    crd = load_yaml(UPSTREAM / "monitoring.coreos.com_podmonitors-0.93.0.yaml")
    v1 = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    schema = strict_schema(v1["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = {"type": "object"}  # the API server checks metadata
    return schema


@pytest.fixture(scope="module")
def metrics_on(helm) -> list[dict]:
    return render(helm, *ON)


def ray_pods(docs: list[dict]) -> dict[str, dict]:
    """The Ray container and the rayStartParams of the head and every worker group."""
    spec = raycluster(docs)["spec"]
    groups = {"head": spec["headGroupSpec"]}
    groups.update({g["groupName"]: g for g in spec["workerGroupSpecs"]})
    return {
        name: {"container": g["template"]["spec"]["containers"][0], "params": g["rayStartParams"]}
        for name, g in groups.items()
    }


def metrics_ports(container: dict) -> list[int]:
    return [p["containerPort"] for p in container.get("ports") or [] if p["name"] == "metrics"]


def test_metrics_are_off_by_default(rendered):
    for profile, docs in rendered.items():
        assert not of_kind(docs, "PodMonitor"), profile
        for name, pod in ray_pods(docs).items():
            assert not metrics_ports(pod["container"]), f"{profile}/{name}"
            assert "metrics-export-port" not in pod["params"], f"{profile}/{name}"
        policy = one(docs, "NetworkPolicy", "ray-platform-ray")["spec"]["ingress"]
        assert 8080 not in {p["port"] for rule in policy for p in rule.get("ports") or []}


def test_every_ray_node_exposes_the_metrics_port(metrics_on):
    pods = ray_pods(metrics_on)
    assert set(pods) == {"head", "cpu"}
    for name, pod in pods.items():
        assert metrics_ports(pod["container"]) == [8080], name
        assert pod["params"]["metrics-export-port"] == "8080", name
    # The head keeps its own ports and its num-cpus.
    head = pods["head"]
    assert {p["name"] for p in head["container"]["ports"]} == {
        "gcs",
        "dashboard",
        "client",
        "metrics",
    }
    assert head["params"]["num-cpus"] == "0"


def test_the_pod_monitor_scrapes_every_pod_of_the_cluster(metrics_on, podmonitor_schema):
    monitor = one(metrics_on, "PodMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert not schema_errors(podmonitor_schema, monitor)
    spec = monitor["spec"]
    cluster = raycluster(metrics_on)["metadata"]["name"]
    # KubeRay labels the head and the workers ray.io/cluster=<name>.
    assert spec["selector"] == {"matchLabels": {"ray.io/cluster": cluster}}
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = spec["podMetricsEndpoints"]
    assert endpoint["port"] == "metrics" and endpoint["interval"] == "30s"
    targets = {r["targetLabel"] for r in endpoint["relabelings"]}
    assert "ray_io_cluster" in targets  # what Ray's Grafana dashboards filter by


def test_the_crd_check_catches_a_misspelt_field(metrics_on, podmonitor_schema):
    monitor = copy.deepcopy(one(metrics_on, "PodMonitor"))
    monitor["spec"]["podMetricEndpoints"] = monitor["spec"].pop("podMetricsEndpoints")
    assert schema_errors(podmonitor_schema, monitor)


def test_the_raycluster_with_metrics_still_fits_kuberay(metrics_on, helm):
    assert not schema_errors(kuberay_schema("1.7.0"), raycluster(metrics_on))
    local = [*ON, "-f", str(VALUES / "local-images.yaml"), "--set", "ray.auth.method=env"]
    assert not schema_errors(kuberay_schema("1.5.0"), raycluster(render(helm, *local)))


def test_prometheus_may_reach_the_metrics_port_and_nothing_else(metrics_on, chart_values):
    policy = one(metrics_on, "NetworkPolicy", "ray-platform-ray")
    for version in KUBE_VERSIONS:
        kubernetes_validate.validate(policy, version, strict=True)
    rules = [
        r
        for r in policy["spec"]["ingress"]
        if {"protocol": "TCP", "port": 8080} in r.get("ports", [])
    ]
    assert len(rules) == 1
    (rule,) = rules
    assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]
    assert rule["from"] == chart_values["ray"]["metrics"]["scrapeFrom"]
    # The policy covers every Ray pod, workers included.
    assert policy["spec"]["podSelector"]["matchLabels"] == {
        "ray.io/cluster": raycluster(metrics_on)["metadata"]["name"]
    }


def test_port_labels_and_interval_come_from_the_values(helm):
    docs = render(
        helm,
        *ON,
        "--set",
        "ray.metrics.port=9090",
        "--set",
        "ray.metrics.podMonitor.labels.release=prometheus",
        "--set",
        "ray.metrics.podMonitor.interval=1m",
    )
    for name, pod in ray_pods(docs).items():
        assert metrics_ports(pod["container"]) == [9090], name
        assert pod["params"]["metrics-export-port"] == "9090", name
    monitor = one(docs, "PodMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["podMetricsEndpoints"][0]["interval"] == "1m"


def test_the_port_without_a_pod_monitor(helm):
    docs = render(helm, *ON, "--set", "ray.metrics.podMonitor.enabled=false")
    assert not of_kind(docs, "PodMonitor")
    assert all(metrics_ports(p["container"]) == [8080] for p in ray_pods(docs).values())


def test_a_cluster_without_the_prometheus_operator_is_told_so(helm):
    result = run_helm(helm, *ON, "--api-versions", "ray.io/v1")
    assert result.returncode != 0
    assert "this cluster has no PodMonitor kind" in result.stderr
    with_crd = [
        "--api-versions",
        "ray.io/v1",
        "--api-versions",
        "monitoring.coreos.com/v1/PodMonitor",
    ]
    assert run_helm(helm, *ON, *with_crd).returncode == 0
    off = ["--set", "ray.metrics.podMonitor.enabled=false"]
    assert run_helm(helm, *ON, *off, "--api-versions", "ray.io/v1").returncode == 0


def test_no_scrape_peers_with_the_network_policy_is_refused(helm, tmp_path):
    path = tmp_path / "values.yaml"
    path.write_text("ray:\n  metrics:\n    enabled: true\n    scrapeFrom: []\n")
    result = run_helm(helm, "-f", str(path))
    assert result.returncode != 0
    assert "ray.metrics.scrapeFrom is empty" in result.stderr
    assert run_helm(helm, "-f", str(path), "--set", "networkPolicy.enabled=false").returncode == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--set", "ray.metrics.enabled=yes"], "/ray/metrics/enabled"),
        (["--set", "ray.metrics.port=80"], "/ray/metrics/port"),
        (
            ["--set", "ray.metrics.podMonitor.interval=30 seconds"],
            "/ray/metrics/podMonitor/interval",
        ),
        (["--set", "ray.metrics.podmonitor.enabled=true"], "/ray/metrics"),
    ],
)
def test_schema_rejects_a_wrong_metrics_value_with_its_path(helm, args, expected):
    result = run_helm(helm, *args)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert expected in result.stderr, result.stderr
