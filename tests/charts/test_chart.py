"""The ray-platform chart: lint, schemas, and what the rendered manifests promise."""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.charts.conftest import (
    CHART,
    GPU_PROFILES,
    NAMESPACE,
    PROFILES,
    RELEASE,
    UPSTREAM,
    VALUES,
    containers,
    lint,
    load_yaml,
    of_kind,
    one,
    pod_specs,
    profile_args,
    render,
    run_helm,
)

# The oldest and newest Kubernetes versions the manifests are checked against.
KUBE_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
SENSITIVE_ENV = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|CONN", re.IGNORECASE)


def secret_data(doc: dict) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()}


def raycluster(docs: list[dict]) -> dict:
    return one(docs, "RayCluster")


def group(docs: list[dict], name: str) -> dict | None:
    groups = raycluster(docs)["spec"].get("workerGroupSpecs") or []
    return next((g for g in groups if g["groupName"] == name), None)


# --- lint and schemas ---------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_helm_lint_passes(helm, profile):
    result = lint(helm, CHART, *profile_args(profile))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("profile", PROFILES)
def test_manifests_match_the_kubernetes_schemas(rendered, profile):
    docs = [d for d in rendered[profile] if d["kind"] != "RayCluster"]
    assert docs
    for version in KUBE_VERSIONS:
        for doc in docs:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as err:
                pytest.fail(
                    f"{doc['kind']}/{doc['metadata']['name']} (Kubernetes {version}): {err}"
                )


def strict_schema(schema):
    """KubeRay's schema with unknown fields rejected, as `kubectl apply --validate=strict` does."""
    if isinstance(schema, dict):
        schema = {k: strict_schema(v) for k, v in schema.items()}
        if (
            schema.get("type") == "object"
            and "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict_schema(v) for v in schema]
    return schema


def kuberay_schema(version: str) -> dict:
    """The RayCluster schema of a KubeRay release, strict (unknown fields are errors)."""
    crd = load_yaml(UPSTREAM / f"ray.io_rayclusters-{version}.yaml")
    v1 = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    schema = strict_schema(v1["schema"]["openAPIV3Schema"])
    # metadata is validated by the API server, not by the CRD's schema.
    schema["properties"]["metadata"] = {"type": "object"}
    return schema


def schema_errors(schema: dict, doc: dict) -> list[str]:
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=lambda e: e.path)
    return [f"{list(e.path)}: {e.message}" for e in errors]


@pytest.fixture(scope="module")
def raycluster_schema() -> dict:
    return kuberay_schema("1.7.0")


@pytest.mark.parametrize("profile", PROFILES)
def test_raycluster_matches_the_kuberay_crd(rendered, raycluster_schema, profile):
    doc = raycluster(rendered[profile])
    assert doc["apiVersion"] == "ray.io/v1"
    errors = sorted(
        jsonschema.Draft7Validator(raycluster_schema).iter_errors(doc), key=lambda e: e.path
    )
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_local_clusters_raycluster_fits_kuberay_1_5(helm):
    """`make up IMAGES=local` installs KubeRay 1.5.0 (the newest its Go proxy serves): the same
    chart must carry no field that operator would drop, and 1.5 lacks authOptions, which is why
    ray.auth.method "auto" switches to "env" there."""
    schema = kuberay_schema("1.5.0")
    local = ["-f", str(VALUES / "kind.yaml"), "-f", str(VALUES / "local-images.yaml")]
    env = raycluster(render(helm, *local, "--set", "ray.auth.method=env"))
    assert not schema_errors(schema, env)
    with_options = raycluster(render(helm, *local, "--set", "ray.auth.method=authOptions"))
    assert any("authOptions" in e for e in schema_errors(schema, with_options))


def test_the_crd_check_catches_a_misspelt_field(rendered, raycluster_schema):
    doc = copy.deepcopy(raycluster(rendered["default"]))
    doc["spec"]["headGroupSpec"]["rayStartParam"] = {}
    assert list(jsonschema.Draft7Validator(raycluster_schema).iter_errors(doc))


# --- values.schema.json and the chart's own checks -------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--set", "store.kind=s3"], "/store/kind"),
        (["--set", "workers.cpu.replicas=-1"], "/workers/cpu/replicas"),
        (["--set", "image.pullPolicy=Sometimes"], "/image/pullPolicy"),
        (["--set", "ray.head.rayStartParams.num-cpus=2"], "/ray/head/rayStartParams/num-cpus"),
        (["--set", "ray.heads.image=x"], "heads"),
        (["--set", "store.bucket=Not_A_Bucket"], "/store/bucket"),
        (["--set", "access=nodeport"], "/access"),
        (["--set", "ray.head.tmpSizeLimit=big"], "/ray/head/tmpSizeLimit"),
        (["--set", "workers.cpu.tmpSizeLimit=big"], "/workers/cpu/tmpSizeLimit"),
        (["--set", "ray.head.podDisruptionBudget.enabled=yes"], "/ray/head/podDisruptionBudget"),
        (["--set", "airflow.deploymentKey.existingSecret=1"], "/airflow/deploymentKey"),
        (["--set", "airflow.apiSecrets.create=yes"], "/airflow/apiSecrets/create"),
        (["--set", "store.minio.user.existingSecret=1"], "/store/minio/user/existingSecret"),
        (["--set", "store.minio.console.enabled=yes"], "/store/minio/console/enabled"),
        (["--set", "networkPolicy.postgres=yes"], "/networkPolicy/postgres"),
    ],
)
def test_schema_rejects_a_wrong_value_with_its_path(helm, args, expected):
    result = run_helm(helm, *args)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert expected in result.stderr, result.stderr


def write_values(tmp_path: Path, values: dict) -> list[str]:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return ["-f", str(path)]


def test_gpu_group_without_a_node_selector_is_refused(helm, tmp_path):
    args = write_values(tmp_path, {"workers": {"gpu": {"enabled": True}}})
    result = run_helm(helm, *args)
    assert result.returncode != 0
    assert "workers.gpu.enabled is true but workers.gpu.nodeSelector is empty" in result.stderr


def test_gpu_group_without_tolerations_is_refused(helm, tmp_path):
    gpu = {"enabled": True, "nodeSelector": {"gpu": "yes"}, "tolerations": []}
    result = run_helm(helm, *write_values(tmp_path, {"workers": {"gpu": gpu}}))
    assert result.returncode != 0
    assert "workers.gpu.tolerations is empty" in result.stderr


def test_replicas_outside_min_max_are_refused(helm):
    result = run_helm(helm, "--set", "workers.cpu.replicas=9", "--set", "workers.cpu.maxReplicas=4")
    assert result.returncode != 0
    assert "workers.cpu: replicas (9) must lie between" in result.stderr


def test_external_store_needs_a_secret(helm):
    result = run_helm(helm, "--set", "store.kind=external")
    assert result.returncode != 0
    assert "store.existingSecret is empty" in result.stderr


def test_missing_existing_secret_is_an_error_against_a_cluster(helm):
    # With the KubeRay CRDs known, the chart is installing for real: the store Secret must exist.
    keys = ("--set", "store.auth=keys,store.existingSecret=ray-platform-s3")
    result = run_helm(helm, *profile_args("eks"), *keys, "--api-versions", "ray.io/v1")
    assert result.returncode != 0
    assert 'Secret "ray-platform-s3" (key "accessKey") was not found' in result.stderr
    # GKE: the logs connection's HMAC key Secret, the only one that profile reads.
    result = run_helm(helm, *profile_args("gke"), "--api-versions", "ray.io/v1")
    assert result.returncode != 0
    assert 'Secret "ray-platform-logs-hmac" (key "accessKey") was not found' in result.stderr


# --- cloud credentials: the pods' identity instead of keys -----------------------------------

IRSA_ROLE = "arn:aws:iam::123456789012:role/ray-platform"
IRSA = (
    "--set-string",
    f"ray.serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn={IRSA_ROLE}",
)


def test_eks_uses_the_pods_iam_role_and_no_key_secret(helm):
    docs = render(helm, *profile_args("eks"), *IRSA, "--api-versions", "ray.io/v1")
    # No key Secret is made or read (a render against a cluster would fail on a missing one).
    assert not [d for d in of_kind(docs, "Secret") if d["metadata"]["name"].endswith("-store")]
    connections = secret_data(one(docs, "Secret", f"{RELEASE}-airflow-connections"))
    for conn_id in ("AIRFLOW_CONN_S3_CHECKPOINTS", "AIRFLOW_CONN_S3_LOGS"):
        conn = json.loads(connections[conn_id])
        assert "login" not in conn and "password" not in conn, conn_id
    account = one(docs, "ServiceAccount", f"{RELEASE}-ray")
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": IRSA_ROLE}
    specs = dict(ps for doc in docs for ps in pod_specs(doc))
    ray_pods = {w: s for w, s in specs.items() if w.startswith("RayCluster/")}
    assert ray_pods and all(s["serviceAccountName"] == f"{RELEASE}-ray" for s in ray_pods.values())
    test_pod = specs[f"Pod/{RELEASE}-test-connectivity"]
    assert test_pod["serviceAccountName"] == f"{RELEASE}-ray"
    for where, spec in specs.items():
        for container in containers(spec):
            names = {e["name"] for e in container.get("env") or []}
            assert not names & {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}, where


GKE_ACCOUNT = "ray-platform@my-project.iam.gserviceaccount.com"


def test_gke_uses_workload_identity_for_checkpoints_and_an_hmac_key_for_logs(helm):
    annotation = f"ray.serviceAccount.annotations.iam\\.gke\\.io/gcp-service-account={GKE_ACCOUNT}"
    docs = render(helm, *profile_args("gke"), "--set-string", annotation)
    account = one(docs, "ServiceAccount", f"{RELEASE}-ray")
    assert account["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": GKE_ACCOUNT}
    specs = dict(ps for doc in docs for ps in pod_specs(doc))
    ray_pods = [s for w, s in specs.items() if w.startswith("RayCluster/")]
    assert ray_pods and all(s["serviceAccountName"] == f"{RELEASE}-ray" for s in ray_pods)
    for where, spec in specs.items():
        for container in containers(spec):
            names = {e["name"] for e in container.get("env") or []}
            assert not names & {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}, where
    # helm test checks the store the way a Ray worker's checkpoint write reaches it.
    test_pod = specs[f"Pod/{RELEASE}-test-connectivity"]
    assert test_pod["serviceAccountName"] == f"{RELEASE}-ray"
    assert "ray_provider.runtime.store_check" in test_pod["containers"][0]["args"][0]
    # The HMAC key Secret is read for the logs connection only: no pod mounts it.
    assert not [w for w, s in specs.items() if "ray-platform-logs-hmac" in secret_refs(s)]


def test_eks_falls_back_to_keys_from_a_secret(helm):
    docs = render(
        helm, *profile_args("eks"), "--set", "store.auth=keys,store.existingSecret=ray-platform-s3"
    )
    connections = secret_data(one(docs, "Secret", f"{RELEASE}-airflow-connections"))
    assert "login" in json.loads(connections["AIRFLOW_CONN_S3_CHECKPOINTS"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "store.auth=podIdentity"], 'store.kind is "minio": the in-cluster stores'),
        (
            ["-f", str(VALUES / "eks.yaml"), "--set", "store.existingSecret=keys"],
            "the pods' identity replaces the keys",
        ),
        (
            ["-f", str(VALUES / "eks.yaml"), "--set", "ray.serviceAccount.create=false"],
            "the Ray pods have no ServiceAccount of their own",
        ),
        (
            ["-f", str(VALUES / "gke.yaml"), "--set", "airflow.remoteLogging.existingSecret="],
            "Airflow's S3 log handler signs with keys only",
        ),
    ],
    ids=["in-cluster-store", "with-a-key-secret", "without-a-service-account", "gcs-logs-no-hmac"],
)
def test_pod_identity_mistakes_are_refused_naming_the_fix(helm, args, message):
    result = run_helm(helm, *args)
    assert result.returncode != 0 and message in result.stderr


# --- the Ray cluster --------------------------------------------------------------------------


@pytest.mark.parametrize("profile", GPU_PROFILES)
def test_gpu_group_requests_gpus_tolerates_the_taint_and_scales_from_zero(rendered, profile):
    docs = rendered[profile]
    profile_values = load_yaml(VALUES / f"{profile}.yaml")["workers"]["gpu"]
    gpu = group(docs, "gpu")
    assert gpu is not None, f"{profile}: no GPU worker group"
    assert gpu["minReplicas"] == 0 and gpu["maxReplicas"] >= 1
    spec = gpu["template"]["spec"]
    ray_container = spec["containers"][0]
    want = profile_values["gpusPerWorker"]
    assert ray_container["resources"]["limits"]["nvidia.com/gpu"] == want
    assert ray_container["resources"]["requests"]["nvidia.com/gpu"] == want
    assert any(
        t["key"] == "nvidia.com/gpu" and t["effect"] == "NoSchedule" for t in spec["tolerations"]
    )
    assert spec["nodeSelector"] == profile_values["nodeSelector"]
    assert ray_container["image"].endswith("-gpu")
    assert raycluster(docs)["spec"]["enableInTreeAutoscaling"] is True


def test_default_and_kind_have_no_gpu_group(rendered):
    for profile in ("default", "kind"):
        assert group(rendered[profile], "gpu") is None
        assert "nvidia.com/gpu" not in yaml.safe_dump_all(rendered[profile])


def tag(values: dict) -> str:
    versions = values["versions"]
    return f"{versions['ray']}-py{versions['python'].replace('.', '')}"


def test_head_and_groups_have_their_own_images(helm, chart_values):
    docs = render(
        helm,
        "--set",
        "ray.head.image=reg/head:1",
        "--set",
        "workers.cpu.image=reg/cpu:1",
        *profile_args("gke"),
    )
    images = {where: spec["containers"][0]["image"] for where, spec in pod_specs(raycluster(docs))}
    assert images == {
        "RayCluster/ray-platform/head": "reg/head:1",
        "RayCluster/ray-platform/cpu": "reg/cpu:1",
        "RayCluster/ray-platform/gpu": f"ray-platform/ray:{tag(chart_values)}-gpu",
    }


@pytest.mark.parametrize("profile", PROFILES)
def test_token_auth_is_on_and_airflow_connections_carry_the_token(rendered, profile):
    docs = rendered[profile]
    cluster = raycluster(docs)
    auth = cluster["spec"]["authOptions"]
    assert auth["mode"] == "token"
    name = cluster["metadata"]["name"]
    connections = secret_data(one(docs, "Secret", "ray-platform-airflow-connections"))
    ray_conn = json.loads(connections["AIRFLOW_CONN_RAY_DEFAULT"])
    assert ray_conn["conn_type"] == "ray"
    assert ray_conn["host"] == f"ray://{name}-head-svc.{NAMESPACE}.svc:10001"
    # The "Ray dashboard" link of every @task.ray task opens what make up prints.
    assert ray_conn["extra"] == {"namespace": "airflow", "dashboard_url": "http://localhost:8265"}
    from ray_provider.client.settings import settings_from_connection

    parsed = settings_from_connection(
        SimpleNamespace(**ray_conn, port=None, extra_dejson=ray_conn["extra"]), "ray_default"
    )
    assert parsed.dashboard_base == "http://localhost:8265"
    s3_conn = json.loads(connections["AIRFLOW_CONN_S3_CHECKPOINTS"])
    assert s3_conn["conn_type"] == "aws"
    assert {"region_name", "checkpoint_bucket"} <= set(s3_conn["extra"])
    assert connections["HIGGS_RAY_CONN_ID"] == "ray_default"
    assert connections["HIGGS_CHECKPOINT_CONN_ID"] == "s3_checkpoints"
    if profile in ("gke", "eks"):  # the token comes from the user's Secret at install time
        assert auth["secretName"] == "ray-platform-ray-token"
        return
    token = secret_data(one(docs, "Secret", auth["secretName"]))["auth_token"]
    assert len(token) >= 32 and ray_conn["password"] == token
    # MinIO: the bucket-scoped user; SeaweedFS (aks): the store's own keys.
    minio = profile in ("default", "kind")
    client = secret_data(one(docs, "Secret", f"{RELEASE}-store{'-user' if minio else ''}"))
    assert (s3_conn["login"], s3_conn["password"]) == (client["accessKey"], client["secretKey"])
    assert s3_conn["extra"]["endpoint_url"].startswith("http://ray-platform-")


def test_eks_connection_points_at_aws_s3_and_gke_at_gcs(rendered):
    eks = secret_data(one(rendered["eks"], "Secret", "ray-platform-airflow-connections"))
    assert "endpoint_url" not in json.loads(eks["AIRFLOW_CONN_S3_CHECKPOINTS"])["extra"]
    gke = secret_data(one(rendered["gke"], "Secret", "ray-platform-airflow-connections"))
    checkpoints = json.loads(gke["AIRFLOW_CONN_S3_CHECKPOINTS"])
    assert checkpoints["extra"]["endpoint_url"] == "https://storage.googleapis.com"
    # Workload Identity: no keys for the checkpoints; the logs connection has its HMAC key.
    assert "login" not in checkpoints and "password" not in checkpoints
    logs = json.loads(gke["AIRFLOW_CONN_S3_LOGS"])
    assert (
        "ray-platform-logs-hmac" in logs["login"] and "ray-platform-logs-hmac" in logs["password"]
    )
    assert logs["extra"]["endpoint_url"] == "https://storage.googleapis.com"


# --- secrets --------------------------------------------------------------------------------


SENSITIVE_KEYS = re.compile(
    r"^(password|pass|token|auth_?token|access_?key|secret_?key|fernet_?key|jwt_?secret)$",
    re.IGNORECASE,
)


def literal_secrets(node, path=""):
    """Paths of keys that look like credentials and hold a literal (not a Secret reference)."""
    if isinstance(node, dict):
        is_reference = "secretName" in node or "secretKeyRef" in node
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            literal = isinstance(value, str) and value and not is_reference
            if literal and SENSITIVE_KEYS.match(str(key)):
                yield where
            yield from literal_secrets(value, where)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from literal_secrets(item, f"{path}[{i}]")


def values_files() -> list[Path]:
    return [CHART / "values.yaml", *sorted(VALUES.glob("*.yaml"))]


@pytest.mark.parametrize("path", values_files(), ids=lambda p: p.name)
def test_no_secret_value_in_a_values_file(path):
    found = list(literal_secrets(load_yaml(path)))
    assert not found, f"{path.name} holds credentials at {found}: reference a Secret instead"


def test_the_secret_scan_finds_a_literal_password():
    assert list(literal_secrets({"auth": {"password": "hunter2"}})) == ["auth.password"]
    assert not list(literal_secrets({"secret": [{"secretName": "s", "secretKey": "password"}]}))


@pytest.mark.parametrize("profile", PROFILES)
def test_secret_values_appear_only_in_secrets(rendered, profile):
    docs = rendered[profile]
    values = {
        value
        for doc in of_kind(docs, "Secret")
        for key, value in secret_data(doc).items()
        if len(value) >= 12 and key not in ("username",) and not key.startswith("HIGGS_")
    }
    assert values
    for doc in docs:
        if doc["kind"] == "Secret":
            continue
        text = yaml.safe_dump(doc)
        leaked = [v for v in values if v in text]
        assert not leaked, f"{doc['kind']}/{doc['metadata']['name']} contains a secret value"


@pytest.mark.parametrize("profile", PROFILES)
def test_credentials_reach_pods_through_secret_key_refs_only(rendered, profile):
    for doc in rendered[profile]:
        for where, spec in pod_specs(doc):
            for container in containers(spec):
                for env in container.get("env") or []:
                    if SENSITIVE_ENV.search(env["name"]):
                        assert "value" not in env, f"{where}: {env['name']} is inlined"
                        assert "secretKeyRef" in env["valueFrom"], f"{where}: {env['name']}"


# --- security and resources ----------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_pods_run_non_root_with_requests_and_limits(rendered, profile):
    specs = [ps for doc in rendered[profile] for ps in pod_specs(doc)]
    assert len(specs) >= 4
    for where, spec in specs:
        pod_context = spec["securityContext"]
        assert pod_context["runAsNonRoot"] is True, where
        assert pod_context["runAsUser"] > 0, where
        for container in containers(spec):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), where
            assert {"cpu", "memory"} <= set(resources["limits"]), where


def quantity_gib(value) -> float:
    units = {"Ki": 2**-20, "Mi": 2**-10, "Gi": 1, "Ti": 2**10}
    match = re.fullmatch(r"([0-9.]+)([KMGT]i)?", str(value))
    assert match, f"unsupported quantity {value}"
    return float(match.group(1)) * units.get(match.group(2) or "", 2**-30)


def memory_limits(node) -> float:
    """Sum of every resources.limits.memory below a values node."""
    if isinstance(node, dict):
        total = 0.0
        limits = node.get("limits") if isinstance(node.get("limits"), dict) else None
        if limits and "memory" in limits:
            total += quantity_gib(limits["memory"])
        return total + sum(memory_limits(v) for k, v in node.items() if k != "limits")
    if isinstance(node, list):
        return sum(memory_limits(v) for v in node)
    return 0.0


def test_kind_profile_fits_a_16_gb_laptop(rendered):
    docs = rendered["kind"]
    ray_and_store = 0.0
    for doc in docs:
        if "helm.sh/hook" in doc["metadata"].get("annotations", {}):
            continue  # the helm test pod and the bucket job come and go
        for _, spec in pod_specs(doc):
            for container in containers(spec):
                ray_and_store += quantity_gib(container["resources"]["limits"]["memory"])
    cluster = raycluster(docs)["spec"]
    ray_and_store += quantity_gib(cluster["autoscalerOptions"]["resources"]["limits"]["memory"])
    airflow_values = load_yaml(VALUES / "airflow-kind.yaml")
    airflow = memory_limits({k: v for k, v in airflow_values.items() if not k.endswith("Job")})
    operator = memory_limits(load_yaml(VALUES / "kuberay-operator.yaml"))
    total = ray_and_store + airflow + operator
    # Leave 4 GB of a 16 GB laptop to the OS, Docker and the kind control plane.
    assert total <= 12, f"kind profile needs {total:.1f} GiB of memory limits"


# --- network policy ---------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_network_policy_guards_the_ray_head(rendered, profile, chart_values):
    docs = rendered[profile]
    cluster = raycluster(docs)["metadata"]["name"]
    policy = one(docs, "NetworkPolicy", f"{cluster}-ray")
    # KubeRay labels the head pod ray.io/cluster=<name>, ray.io/node-type=head.
    head_labels = {"ray.io/cluster": cluster, "ray.io/node-type": "head"}
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= head_labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    client_labels = chart_values["networkPolicy"]["clientPodLabels"]
    peers_seen = []
    for rule in policy["spec"]["ingress"]:
        assert rule.get("from"), "a rule without `from` would admit every pod"
        for peer in rule["from"]:
            labels = peer.get("podSelector", {}).get("matchLabels")
            peers_seen.append(labels)
            if labels == client_labels:
                assert sorted(p["port"] for p in rule["ports"]) == [8265, 10001]
            elif labels is None and "ipBlock" in peer:
                assert [p["port"] for p in rule["ports"]] == [8265]
                # A pod (10.244.0.0/16 on kind) must not count as "the node" of a NodePort.
                if profile == "kind":
                    assert_node_network_only(peer["ipBlock"])
    assert {"ray.io/cluster": cluster} in peers_seen
    assert client_labels in peers_seen
    # Airflow's pods and the helm test pod carry the client labels.
    airflow_labels = load_yaml(VALUES / "airflow.yaml")["labels"]
    assert client_labels.items() <= airflow_labels.items()
    test_pod = one(docs, "Pod")
    assert client_labels.items() <= test_pod["metadata"]["labels"].items()


# --- versions ----------------------------------------------------------------------------------


def test_chart_versions_equal_the_lock(chart_values, lock):
    versions = chart_values["versions"]
    assert versions["ray"] == lock["ray"]
    assert versions["python"] == lock["python"]
    assert versions["airflow"] == lock["apache-airflow"]
    chart = load_yaml(CHART / "Chart.yaml")
    assert chart["appVersion"] == lock["ray"]


@pytest.mark.parametrize("profile", PROFILES)
def test_rendered_ray_version_and_images_match_the_lock(rendered, profile, lock):
    cluster = raycluster(rendered[profile])
    assert cluster["spec"]["rayVersion"] == lock["ray"]
    want = f"{lock['ray']}-py{lock['python'].replace('.', '')}"
    for where, spec in pod_specs(cluster):
        image = spec["containers"][0]["image"]
        assert image.split(":")[1] in (want, f"{want}-gpu"), f"{where}: {image}"
    test_pod = one(rendered[profile], "Pod")
    assert test_pod["spec"]["containers"][0]["image"].endswith(f":{want}")


def test_airflow_values_use_the_locked_airflow_and_python(lock):
    values = load_yaml(VALUES / "airflow.yaml")
    want = f"{lock['apache-airflow']}-python{lock['python']}"
    assert values["airflowVersion"] == lock["apache-airflow"]
    assert values["images"]["airflow"]["tag"] == want
    assert values["defaultAirflowTag"] == want


# --- store, postgres, hooks and notes ------------------------------------------------------------


def test_minio_is_pinned_with_a_bucket_job(rendered):
    docs = rendered["kind"]
    minio = one(docs, "Deployment", "ray-platform-minio")
    image = minio["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z"
    job = one(docs, "Job", "ray-platform-create-bucket")
    assert "post-install" in job["metadata"]["annotations"]["helm.sh/hook"]
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["BUCKET"]["value"] == "checkpoints"
    assert env["ENDPOINT"]["value"] == f"http://ray-platform-minio.{NAMESPACE}.svc:9000"


def test_seaweedfs_replaces_minio_on_aks(rendered):
    docs = rendered["aks"]
    names = {d["metadata"]["name"] for d in of_kind(docs, "Deployment")}
    assert names == {"ray-platform-seaweedfs"}
    connections = secret_data(one(docs, "Secret", "ray-platform-airflow-connections"))
    extra = json.loads(connections["AIRFLOW_CONN_S3_CHECKPOINTS"])["extra"]
    assert extra["endpoint_url"] == f"http://ray-platform-seaweedfs.{NAMESPACE}.svc:8333"


def test_external_store_runs_no_store_and_no_bucket_job(rendered):
    for profile in ("gke", "eks"):
        docs = rendered[profile]
        assert not of_kind(docs, "Deployment")
        assert not of_kind(docs, "Job")
        assert not [d for d in of_kind(docs, "Secret") if d["metadata"]["name"].endswith("-store")]


def test_kind_postgres_backs_airflow_metadata(rendered):
    docs = rendered["kind"]
    secret = secret_data(one(docs, "Secret", "ray-platform-airflow-metadata"))
    assert secret["connection"].startswith("postgresql://airflow:")
    assert f"@ray-platform-postgres.{NAMESPACE}.svc:5432/airflow" in secret["connection"]
    kind_airflow = load_yaml(VALUES / "airflow-kind.yaml")
    assert kind_airflow["data"]["metadataSecretName"] == "ray-platform-airflow-metadata"
    one(docs, "StatefulSet", "ray-platform-postgres")
    for profile in GPU_PROFILES:
        assert not of_kind(rendered[profile], "StatefulSet")


def test_airflow_values_name_the_secrets_the_chart_makes(rendered):
    airflow = load_yaml(VALUES / "airflow.yaml")
    names = {d["metadata"]["name"] for d in of_kind(rendered["kind"], "Secret")}
    env_from = yaml.safe_load(airflow["extraEnvFrom"])
    assert {e["secretRef"]["name"] for e in env_from} <= names
    assert {s["secretName"] for s in airflow["secret"]} <= names


def test_helm_test_hook_checks_ray_and_the_store(rendered):
    pod = one(rendered["default"], "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    script = pod["spec"]["containers"][0]["args"][0]
    # Ray through Ray Client, then the store the way a Ray worker's checkpoint write reaches it
    # (ray_provider.runtime.store_check, tested against MinIO in tests/integration).
    assert "init_with_retries(" in script and "ray_provider.runtime.store_check" in script
    env = {e["name"] for e in pod["spec"]["containers"][0]["env"]}
    assert {"RAY_ADDRESS", "RAY_AUTH_TOKEN", "AWS_ACCESS_KEY_ID", "S3_BUCKET"} <= env


def render_notes(helm, tmp_path: Path, *args: str) -> str:
    """NOTES.txt as helm prints it after install (helm template skips it, so render a copy)."""
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "NOTES.txt").unlink()
    (chart / "templates" / "_notes_probe.tpl").write_text(
        '{{- define "notes-probe" -}}\n' + notes + "\n{{- end -}}\n"
    )
    (chart / "templates" / "notes-probe.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n"
        '  notes: {{ include "notes-probe" . | quote }}\n'
    )
    docs = render(helm, *args, "--show-only", "templates/notes-probe.yaml", chart=chart)
    return docs[0]["data"]["notes"]


def test_notes_tell_how_to_reach_airflow_ray_and_the_store(helm, tmp_path):
    kind = render_notes(helm, tmp_path / "kind", *profile_args("kind"))
    for line in ("http://localhost:8080", "http://localhost:8265", "http://localhost:9000"):
        assert line in kind
    # MinIO's console is off, and the keys printed are the bucket-scoped user's, not root's.
    assert "9001" not in kind
    assert "get secret ray-platform-store-user" in kind
    assert "get secret ray-platform-store " not in kind
    assert "get secret ray-platform-airflow-admin" in kind
    assert "make e2e" in kind
    cloud = render_notes(helm, tmp_path / "gke", *profile_args("gke"))
    assert "port-forward svc/airflow-api-server 8080:8080" in cloud
    assert "port-forward svc/ray-platform-head-svc 8265:8265" in cloud
    assert "https://storage.googleapis.com" in cloud


@pytest.mark.parametrize("profile", PROFILES)
def test_head_runs_the_registry_keeper_beside_ray(rendered, profile):
    cluster = raycluster(rendered[profile])
    head = cluster["spec"]["headGroupSpec"]["template"]["spec"]
    by_name = {c["name"]: c for c in head["containers"]}
    keeper = by_name["registry-keeper"]
    assert keeper["image"] == by_name["ray-head"]["image"]
    assert keeper["command"] == ["python", "-m", "ray_provider.cli.keeper"]
    # Same Ray namespace as the Airflow connection's extra, same GCS as the head container.
    assert "--namespace=airflow" in keeper["args"]
    assert "--address=127.0.0.1:6379" in keeper["args"]
    # A driver on the head's node needs the raylet's sockets and the object store.
    mounts = {m["name"]: m["mountPath"] for m in keeper["volumeMounts"]}
    assert mounts == {"shared-mem": "/dev/shm", "ray-tmp": "/tmp/ray"}
    env = {e["name"]: e for e in keeper["env"]}
    assert env["RAY_AUTH_MODE"]["value"] == "token"
    token_ref = env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert token_ref == {"name": cluster["spec"]["authOptions"]["secretName"], "key": "auth_token"}
    workers = [g["template"]["spec"] for g in cluster["spec"].get("workerGroupSpecs") or []]
    assert all(len(spec["containers"]) == 1 for spec in workers)


def test_keeper_can_be_turned_off(helm):
    docs = render(helm, "--set", "ray.keeper.enabled=false")
    head = raycluster(docs)["spec"]["headGroupSpec"]["template"]["spec"]
    assert [c["name"] for c in head["containers"]] == ["ray-head"]


@pytest.mark.parametrize("profile", PROFILES)
def test_network_policy_guards_the_store(rendered, profile, chart_values):
    """The store holds every checkpoint: only Ray, client pods and the bucket Job reach it."""
    docs = rendered[profile]
    store = [
        d
        for d in of_kind(docs, "Deployment")
        if d["metadata"]["labels"].get("app.kubernetes.io/component") == "store"
    ]
    if not store:  # the cloud profiles use the cloud's own store
        assert f"{RELEASE}-store" not in [
            d["metadata"]["name"] for d in of_kind(docs, "NetworkPolicy")
        ]
        return
    policy = one(docs, "NetworkPolicy", f"{RELEASE}-store")
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= store[0]["spec"]["template"]["metadata"]["labels"].items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    # The S3 port only: not MinIO's console, nor SeaweedFS's master, volume and filer ports.
    s3_port = 9000 if store[0]["metadata"]["name"].endswith("-minio") else 8333
    for rule in policy["spec"]["ingress"]:
        assert rule["ports"] == [{"protocol": "TCP", "port": s3_port}], rule
    peers = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
    labels = [p["podSelector"]["matchLabels"] for p in peers if "podSelector" in p]
    assert {"ray.io/cluster": raycluster(docs)["metadata"]["name"]} in labels
    assert chart_values["networkPolicy"]["clientPodLabels"] in labels
    job = one(docs, "Job")
    job_labels = job["spec"]["template"]["metadata"]["labels"]
    assert any(sel.items() <= job_labels.items() for sel in labels), "the bucket Job is shut out"
    blocks = [p["ipBlock"] for p in peers if "ipBlock" in p]
    if profile == "kind":
        assert blocks
        for block in blocks:
            assert_node_network_only(block)
    else:
        assert not blocks


def test_the_store_policy_goes_with_an_external_store(helm):
    external = ["--set", "store.kind=external", "--set", "store.existingSecret=keys"]
    docs = render(helm, *external, "--set", "store.logsBucket=my-logs")
    assert [d["metadata"]["name"] for d in of_kind(docs, "NetworkPolicy")] == [f"{RELEASE}-ray"]


def ray_containers(docs: list[dict]) -> dict[str, dict]:
    """Every container of the RayCluster's pod templates, by "<group>/<container>"."""
    cluster = raycluster(docs)["spec"]
    groups = {"head": cluster["headGroupSpec"]}
    groups.update({g["groupName"]: g for g in cluster["workerGroupSpecs"]})
    return {
        f"{name}/{c['name']}": c
        for name, group in groups.items()
        for c in group["template"]["spec"]["containers"]
    }


def env_names(container: dict) -> set[str]:
    return {e["name"] for e in container.get("env", [])}


def test_token_auth_by_authoptions_puts_no_token_in_the_ray_containers(helm):
    docs = render(helm, "-f", str(VALUES / "kind.yaml"), "--set", "ray.auth.method=authOptions")
    assert raycluster(docs)["spec"]["authOptions"]["mode"] == "token"
    for where, container in ray_containers(docs).items():
        if not where.endswith("registry-keeper"):
            assert "RAY_AUTH_TOKEN" not in env_names(container), where


def test_token_auth_by_env_reaches_every_ray_container_and_the_autoscaler(helm):
    """KubeRay 1.5 (make up IMAGES=local) has no authOptions and would drop it silently."""
    docs = render(helm, "-f", str(VALUES / "kind.yaml"), "--set", "ray.auth.method=env")
    spec = raycluster(docs)["spec"]
    assert "authOptions" not in spec
    secret = one(docs, "Secret", f"{RELEASE}-ray-token")["metadata"]["name"]
    containers = ray_containers(docs)
    assert containers, "no Ray containers rendered"
    for where, container in [*containers.items(), ("autoscaler", spec["autoscalerOptions"])]:
        env = {e["name"]: e for e in container["env"]}
        assert env["RAY_AUTH_MODE"]["value"] == "token", where
        ref = env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == (secret, "auth_token"), where
        assert "value" not in env["RAY_AUTH_TOKEN"], f"{where}: a literal token"


def test_an_unknown_auth_method_is_refused(helm):
    result = run_helm(helm, "--set", "ray.auth.method=password")
    assert result.returncode != 0
    # The values schema refuses it before the template's own check (both name the key).
    assert "/ray/auth/method" in result.stderr and "'auto', 'authOptions', 'env'" in result.stderr


def test_the_keeper_shares_the_head_process_namespace(helm):
    """Ray's driver finds its raylet by scanning processes: the sidecar must see the head's."""
    docs = render(helm, "-f", str(VALUES / "kind.yaml"))
    spec = raycluster(docs)["spec"]
    assert spec["headGroupSpec"]["template"]["spec"]["shareProcessNamespace"] is True
    for group in spec["workerGroupSpecs"]:
        assert "shareProcessNamespace" not in group["template"]["spec"]
    off = render(helm, "-f", str(VALUES / "kind.yaml"), "--set", "ray.keeper.enabled=false")
    head = raycluster(off)["spec"]["headGroupSpec"]["template"]["spec"]
    assert "shareProcessNamespace" not in head


# --- generated secrets kept across upgrades -----------------------------------------------------

# The one `lookup` of a Secret in the chart (templates/_helpers.tpl, rp.secretData).
SECRET_LOOKUP = '(lookup "v1" "Secret" $root.Release.Namespace (index . 1)).data'
FAKE_LOOKUP = '(dig (index . 1) "data" (dict) ($root.Files.Get "cluster-secrets.json" | fromJson))'


def render_against(helm, tmp_path: Path, secrets: list[dict], *args: str) -> list[dict]:
    """Render as `helm upgrade` would with these Secrets in the cluster: `helm template` has no
    cluster, so a copy of the chart reads them from a file where rp.secretData calls lookup."""
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    helpers = chart / "templates" / "_helpers.tpl"
    text = helpers.read_text()
    assert text.count(SECRET_LOOKUP) == 1, "rp.secretData no longer looks Secrets up this way"
    helpers.write_text(text.replace(SECRET_LOOKUP, FAKE_LOOKUP))
    cluster = {s["metadata"]["name"]: {"data": s.get("data") or {}} for s in secrets}
    (chart / "cluster-secrets.json").write_text(json.dumps(cluster))
    return render(helm, *args, chart=chart)


def secrets_by_name(docs: list[dict]) -> dict[str, dict[str, str]]:
    return {d["metadata"]["name"]: secret_data(d) for d in of_kind(docs, "Secret")}


GENERATED = {
    f"{RELEASE}-ray-token": ["auth_token"],
    f"{RELEASE}-store": ["accessKey", "secretKey"],
    f"{RELEASE}-store-user": ["accessKey", "secretKey"],
    f"{RELEASE}-store-logs-user": ["accessKey", "secretKey"],
    f"{RELEASE}-airflow-admin": ["password"],
    f"{RELEASE}-airflow-metadata": ["password"],
    f"{RELEASE}-deployment-key": ["deployment-key"],
    f"{RELEASE}-airflow-api": ["api-secret-key", "jwt-secret"],
}


def test_generated_secrets_are_kept_across_upgrades(helm, tmp_path):
    """An upgrade reads every generated value back from the cluster instead of making a new one:
    the deployment key (a new one would orphan every signed checkpoint), Airflow's JWT and api
    keys, the store users' keys, the token, the passwords, and the connections built from them."""
    args = profile_args("kind")
    first = render(helm, *args)
    installed = secrets_by_name(first)
    assert set(GENERATED) <= set(installed)
    upgraded = secrets_by_name(render_against(helm, tmp_path, of_kind(first, "Secret"), *args))
    assert upgraded == installed
    # ... and without Secrets in the cluster every one of them is new: the lookup keeps them.
    fresh = secrets_by_name(render(helm, *args))
    for name, keys in GENERATED.items():
        for key in keys:
            assert fresh[name][key] != installed[name][key], f"{name}/{key} is not random"
    for doc in of_kind(first, "Secret"):
        if doc["metadata"]["name"] in GENERATED:
            assert doc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_an_upgrade_adds_the_new_secrets_and_keeps_the_old(helm, tmp_path):
    """Upgrading a release made before the deployment key existed: the old Secrets stay as they
    are, the new ones are generated once."""
    args = profile_args("kind")
    first = render(helm, *args)
    old = [s for s in of_kind(first, "Secret") if not s["metadata"]["name"].endswith("-key")]
    upgraded = secrets_by_name(render_against(helm, tmp_path, old, *args))
    assert upgraded[f"{RELEASE}-ray-token"] == secrets_by_name(first)[f"{RELEASE}-ray-token"]
    key = upgraded[f"{RELEASE}-deployment-key"]["deployment-key"]
    assert len(key) >= 48
    connections = upgraded[f"{RELEASE}-airflow-connections"]
    assert connections["AIRFLOW__RAY_PROVIDER__DEPLOYMENT_KEY"] == key


# --- the deployment key ---------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_the_deployment_key_reaches_airflow_with_the_connections(rendered, profile):
    docs = rendered[profile]
    connections = secret_data(one(docs, "Secret", f"{RELEASE}-airflow-connections"))
    key = connections["AIRFLOW__RAY_PROVIDER__DEPLOYMENT_KEY"]
    assert len(key) >= 48 and key.isalnum()
    assert secret_data(one(docs, "Secret", f"{RELEASE}-deployment-key"))["deployment-key"] == key
    # Airflow loads the whole connections Secret into every pod.
    env_from = yaml.safe_load(load_yaml(VALUES / "airflow.yaml")["extraEnvFrom"])
    assert {"secretRef": {"name": f"{RELEASE}-airflow-connections"}} in env_from


def test_the_deployment_key_can_come_from_your_secret(helm):
    args = ["--set", "airflow.deploymentKey.existingSecret=my-key"]
    docs = render(helm, *args)
    assert f"{RELEASE}-deployment-key" not in secrets_by_name(docs)
    connections = secret_data(one(docs, "Secret", f"{RELEASE}-airflow-connections"))
    assert "my-key" in connections["AIRFLOW__RAY_PROVIDER__DEPLOYMENT_KEY"]  # offline placeholder
    result = run_helm(helm, *args, "--api-versions", "ray.io/v1")
    assert result.returncode != 0
    assert 'Secret "my-key" (key "deployment-key") was not found' in result.stderr


def test_no_deployment_key_without_the_connections_secret(helm):
    # The logs connection travels in that Secret too (tests/charts/test_remote_logs.py).
    docs = render(
        helm,
        "--set",
        "airflow.connections.create=false",
        "--set",
        "airflow.remoteLogging.enabled=false",
    )
    names = secrets_by_name(docs)
    assert f"{RELEASE}-deployment-key" not in names
    assert f"{RELEASE}-airflow-connections" not in names


# --- Airflow's JWT and api secret keys --------------------------------------------------------


def test_airflow_takes_its_jwt_and_api_keys_from_the_kept_secret(rendered):
    airflow = load_yaml(VALUES / "airflow.yaml")
    assert airflow["jwtSecretName"] == airflow["apiSecretKeySecretName"] == f"{RELEASE}-airflow-api"
    for profile in PROFILES:
        data = secret_data(one(rendered[profile], "Secret", f"{RELEASE}-airflow-api"))
        # The keys the official chart (and charts/airflow-local) read from those Secrets.
        assert set(data) == {"api-secret-key", "jwt-secret"}
        assert len(data["api-secret-key"]) >= 32 and len(data["jwt-secret"]) >= 64


def test_the_api_secrets_can_be_left_to_you(helm):
    docs = render(helm, "--set", "airflow.apiSecrets.create=false")
    assert f"{RELEASE}-airflow-api" not in secrets_by_name(docs)


# --- the store: a bucket-scoped MinIO user for the clients ---------------------------------------


def secret_refs(spec: dict) -> set[str]:
    """Names of the Secrets a pod's containers read (env secretKeyRef, envFrom secretRef)."""
    names = set()
    for container in containers(spec):
        for env in container.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                names.add(ref["name"])
        for source in container.get("envFrom") or []:
            if "secretRef" in source:
                names.add(source["secretRef"]["name"])
    return names


@pytest.mark.parametrize("profile", ["default", "kind"])
def test_minio_root_keys_stay_with_minio_and_the_bucket_job(rendered, profile):
    docs = rendered[profile]
    root = secret_data(one(docs, "Secret", f"{RELEASE}-store"))
    user = secret_data(one(docs, "Secret", f"{RELEASE}-store-user"))
    assert len(user["accessKey"]) >= 16 and len(user["secretKey"]) >= 40
    assert user["accessKey"] != root["accessKey"]
    s3 = json.loads(
        secret_data(one(docs, "Secret", f"{RELEASE}-airflow-connections"))[
            "AIRFLOW_CONN_S3_CHECKPOINTS"
        ]
    )
    assert (s3["login"], s3["password"]) == (user["accessKey"], user["secretKey"])
    readers = {
        where
        for doc in docs
        for where, spec in pod_specs(doc)
        if f"{RELEASE}-store" in secret_refs(spec)
    }
    assert readers == {f"Deployment/{RELEASE}-minio", f"Job/{RELEASE}-create-bucket"}
    test_pod = one(docs, "Pod")["spec"]
    assert f"{RELEASE}-store-user" in secret_refs(test_pod)


# ATTACHED: "user:policy" pairs, the policies MinIO already has attached (a rerun of the Job).
FAKE_MC = """#!/bin/sh
echo "$*" >> "$MC_LOG"
for last; do :; done
case "$*" in
  *"admin policy attach"*)
    case " $ATTACHED " in *" $last:"*) echo "already in effect" >&2; exit 1 ;; esac ;;
  *"admin user info"*)
    for pair in $ATTACHED; do
      if [ "${pair%%:*}" = "$last" ]; then echo "PolicyName: ${pair#*:}"; fi
    done ;;
  *"admin policy create"*) cp "$last" "$MC_LOG.$(basename "$last")" ;;
esac
"""


def run_bucket_job(tmp_path: Path, job: dict, **env: str) -> tuple[int, list[str], dict[str, str]]:
    """The bucket Job's script, run by sh against a stand-in mc that logs its arguments.
    Returns the exit code, the mc calls and the policy documents created, by file name."""
    container = job["spec"]["template"]["spec"]["containers"][0]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "mc").write_text(FAKE_MC)
    (bin_dir / "mc").chmod(0o755)
    log = tmp_path / "mc.log"
    log.write_text("")
    script = container["args"][0].replace("/tmp/", f"{tmp_path}/")
    environment = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "MC_LOG": str(log),
        "ENDPOINT": "http://minio:9000",
        "BUCKET": "checkpoints",
        "REGION": "us-east-1",
        "POLICY": "checkpoints-readwrite",
        "AWS_ACCESS_KEY_ID": "root",
        "AWS_SECRET_ACCESS_KEY": "rootsecret",
        "USER_ACCESS_KEY": "client",
        "USER_SECRET_KEY": "clientsecret",
        "LOGS_BUCKET": "logs",
        "LOGS_POLICY": "logs-airflow-logs",
        "LOGS_ACCESS_KEY": "logwriter",
        "LOGS_SECRET_KEY": "logwritersecret",
        **env,
    }
    result = subprocess.run(
        ["sh", "-c", script], env=environment, capture_output=True, text=True, timeout=30
    )
    policies = {
        path.name.removeprefix("mc.log."): path.read_text()
        for path in tmp_path.glob("mc.log.*.json")
    }
    return result.returncode, log.read_text().splitlines(), policies


def test_the_bucket_job_creates_a_user_limited_to_the_bucket(rendered, tmp_path):
    job = one(rendered["kind"], "Job", f"{RELEASE}-create-bucket")
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == f"{RELEASE}-store"
    assert env["USER_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == f"{RELEASE}-store-user"
    assert env["POLICY"]["value"] == "checkpoints-readwrite"
    code, calls, policies = run_bucket_job(tmp_path, job)
    assert code == 0, calls
    calls = [c.split(" ", 2)[-1] for c in calls]  # drop "--config-dir <dir>"
    assert calls == [
        "alias set store http://minio:9000 root rootsecret",
        "mb --ignore-existing --region us-east-1 store/checkpoints",
        "mb --ignore-existing --region us-east-1 store/logs",
        f"admin policy create store checkpoints-readwrite {tmp_path}/policy.json",
        "admin user add store client clientsecret",
        "admin policy attach store checkpoints-readwrite --user client",
        f"admin policy create store logs-airflow-logs {tmp_path}/logs-policy.json",
        "admin user add store logwriter logwritersecret",
        "admin policy attach store logs-airflow-logs --user logwriter",
    ]
    assert json.loads(policies["policy.json"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:*"],
                "Resource": ["arn:aws:s3:::checkpoints", "arn:aws:s3:::checkpoints/*"],
            }
        ],
    }


def test_the_bucket_job_can_run_again(rendered, tmp_path):
    """post-upgrade runs it on every upgrade; MinIO refuses to attach a policy twice."""
    job = one(rendered["kind"], "Job", f"{RELEASE}-create-bucket")
    rerun = "client:checkpoints-readwrite logwriter:logs-airflow-logs"
    code, calls, _ = run_bucket_job(tmp_path, job, ATTACHED=rerun)
    assert code == 0, calls
    checks = [c.split(" ", 2)[-1] for c in calls if " user info " in c]
    assert checks == ["admin user info store client", "admin user info store logwriter"]
    for wrong in (
        "client:consoleAdmin logwriter:logs-airflow-logs",
        "client:checkpoints-readwrite logwriter:consoleAdmin",
    ):
        code, _, _ = run_bucket_job(tmp_path, job, ATTACHED=wrong)
        assert code != 0, f"{wrong}: a user with another policy must not pass for a scoped one"


def test_seaweedfs_and_external_stores_keep_their_own_keys(rendered):
    aks = rendered["aks"]  # SeaweedFS: one identity, the store's keys
    assert f"{RELEASE}-store-user" not in secrets_by_name(aks)
    script = one(aks, "Job")["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "mc mb" in script and "admin" not in script
    for profile in ("gke", "eks"):  # external: the keys of your Secret
        assert f"{RELEASE}-store-user" not in secrets_by_name(rendered[profile])


def test_a_minio_user_from_your_secret(helm):
    docs = render(helm, "--set", "store.minio.user.existingSecret=my-user")
    assert f"{RELEASE}-store-user" not in secrets_by_name(docs)
    job = one(docs, "Job")["spec"]["template"]["spec"]
    assert "my-user" in secret_refs(job) and "my-user" in secret_refs(one(docs, "Pod")["spec"])
    result = run_helm(
        helm, "--set", "store.minio.user.existingSecret=my-user", "--api-versions", "ray.io/v1"
    )
    assert 'Secret "my-user" (key "accessKey") was not found' in result.stderr


def test_minio_without_the_bucket_job_is_refused(helm):
    result = run_helm(helm, "--set", "store.bucketJob.enabled=false")
    assert result.returncode != 0
    assert "the bucket Job creates the bucket-scoped MinIO user" in result.stderr
    assert (
        run_helm(helm, *profile_args("aks"), "--set", "store.bucketJob.enabled=false").returncode
        == 0
    )


def minio_ports(docs: list[dict]) -> tuple[set[int], set[int], dict[str, str]]:
    deployment = one(docs, "Deployment", f"{RELEASE}-minio")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    service = one(docs, "Service", f"{RELEASE}-minio")
    env = {e["name"]: e.get("value") for e in container["env"]}
    return (
        {p["containerPort"] for p in container["ports"]},
        {p["port"] for p in service["spec"]["ports"]},
        env,
    )


def test_the_minio_console_is_closed_unless_turned_on(rendered, helm):
    pod_ports, service_ports, env = minio_ports(rendered["kind"])
    assert pod_ports == service_ports == {9000} and env["MINIO_BROWSER"] == "off"
    docs = render(helm, *profile_args("kind"), "--set", "store.minio.console.enabled=true")
    pod_ports, service_ports, env = minio_ports(docs)
    assert pod_ports == service_ports == {9000, 9001} and env["MINIO_BROWSER"] == "on"
    policy = one(docs, "NetworkPolicy", f"{RELEASE}-store")["spec"]["ingress"]
    for rule in policy:
        ports = {p["port"] for p in rule["ports"]}
        pod_peers = any("podSelector" in peer for peer in rule["from"])
        # Pods reach the S3 port only; the console is for the storeFrom peers (the NodePort).
        assert ports == ({9000} if pod_peers else {9000, 9001}), rule


# --- NetworkPolicies: Postgres and the kind NodePorts ------------------------------------------


def test_only_airflow_pods_reach_postgres(rendered, helm):
    docs = rendered["kind"]
    postgres = one(docs, "StatefulSet", f"{RELEASE}-postgres")
    policy = one(docs, "NetworkPolicy", f"{RELEASE}-postgres")["spec"]
    pod_labels = postgres["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 5432}]
    (peer,) = rule["from"]
    selector = peer["podSelector"]["matchLabels"]
    assert selector == {"tier": "airflow", "release": "airflow"}
    # Every pod of the Airflow release carries them (charts/airflow-local labels its pods as the
    # official chart does), and no pod of this chart does: not Ray, not the client-labelled test.
    airflow = subprocess.run(
        [
            helm,
            "template",
            "airflow",
            str(CHART.parent / "airflow-local"),
            "-n",
            NAMESPACE,
            "-f",
            str(VALUES / "airflow.yaml"),
            "-f",
            str(VALUES / "airflow-kind.yaml"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    airflow_pods = [
        d["spec"]["template"]["metadata"]["labels"]
        for d in yaml.safe_load_all(airflow.stdout)
        if d and d["kind"] in ("Deployment", "Job")
    ]
    assert airflow_pods and all(selector.items() <= labels.items() for labels in airflow_pods)
    for doc in docs:
        template = doc.get("spec", {}).get("template", {}) if doc["kind"] != "Pod" else doc
        labels = (template.get("metadata") or {}).get("labels") or {}
        assert not selector.items() <= labels.items(), doc["metadata"]["name"]
    off = render(helm, *profile_args("kind"), "--set", "networkPolicy.postgres=false")
    assert f"{RELEASE}-postgres" not in [
        d["metadata"]["name"] for d in of_kind(off, "NetworkPolicy")
    ]
    assert f"{RELEASE}-postgres" not in [
        d["metadata"]["name"] for d in of_kind(rendered["default"], "NetworkPolicy")
    ]


KIND_POD_SUBNET = ipaddress.ip_network("10.244.0.0/16")  # kind's defaults (kind-config.yaml
KIND_SERVICE_SUBNET = ipaddress.ip_network("10.96.0.0/16")  # sets neither)


def assert_node_network_only(block: dict) -> None:
    """An ipBlock of the kind profile's NodePort rules: the nodes' network, never the pods'."""
    network = ipaddress.ip_network(block["cidr"])
    assert network.prefixlen >= 8, f"{network} is far wider than a node network"
    assert not network.overlaps(KIND_POD_SUBNET) and not network.overlaps(KIND_SERVICE_SUBNET)


def test_kind_opens_the_node_ports_to_the_node_network_only(rendered):
    values = load_yaml(VALUES / "kind.yaml")["networkPolicy"]
    blocks = [p["ipBlock"] for key in ("dashboardFrom", "storeFrom") for p in values[key]]
    assert blocks
    for block in blocks:
        assert_node_network_only(block)
    # make up narrows them to the subnet of kind's Docker network.
    up = (CHART.parent / "scripts" / "up.sh").read_text()
    assert "docker network inspect kind" in up
    assert "networkPolicy.dashboardFrom=" in up and "networkPolicy.storeFrom=" in up


def test_the_node_network_check_refuses_the_old_rule():
    with pytest.raises(AssertionError):
        assert_node_network_only({"cidr": "0.0.0.0/0", "except": ["10.244.0.0/16"]})


# --- the Ray head and pod hardening ---------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_the_head_takes_no_cpu_tasks_and_has_a_disruption_budget(rendered, profile):
    docs = rendered[profile]
    cluster = raycluster(docs)
    assert cluster["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 0
    # The labels KubeRay puts on the head pod, and only on it.
    assert pdb["spec"]["selector"]["matchLabels"] == {
        "ray.io/cluster": cluster["metadata"]["name"],
        "ray.io/node-type": "head",
    }


def test_the_disruption_budget_can_be_turned_off(helm):
    docs = render(helm, "--set", "ray.head.podDisruptionBudget.enabled=false")
    assert not of_kind(docs, "PodDisruptionBudget")


# HIGGS trains with two xgboost-ray actors of one CPU each (dags/higgs_xgboost.py's defaults).
HIGGS_ACTOR_CPUS = 2


def test_kind_workers_hold_the_higgs_actors_without_the_head(rendered):
    cluster = raycluster(rendered["kind"])["spec"]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    (cpu,) = cluster["workerGroupSpecs"]
    # KubeRay gives a worker the num-cpus of its container's CPU limit.
    limit = cpu["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"]
    assert float(limit) * cpu["replicas"] >= HIGGS_ACTOR_CPUS


@pytest.mark.parametrize("profile", PROFILES)
def test_ray_tmp_is_a_size_limited_empty_dir(rendered, profile, chart_values):
    profile_values = {} if profile == "default" else load_yaml(VALUES / f"{profile}.yaml")
    for where, spec in pod_specs(raycluster(rendered[profile])):
        volumes = {v["name"]: v for v in spec["volumes"]}
        group = where.rsplit("/", 1)[1]
        defaults = (
            chart_values["ray"]["head"] if group == "head" else chart_values["workers"][group]
        )
        override = (
            profile_values.get("ray", {}).get("head", {})
            if group == "head"
            else profile_values.get("workers", {}).get(group, {})
        )
        want = override.get("tmpSizeLimit", defaults["tmpSizeLimit"])
        assert volumes["ray-tmp"]["emptyDir"] == {"sizeLimit": want}, where
    assert chart_values["ray"]["head"]["tmpSizeLimit"] == "8Gi"


@pytest.mark.parametrize("profile", PROFILES)
def test_only_the_autoscaling_head_mounts_a_service_account_token(rendered, profile):
    specs = [ps for doc in rendered[profile] for ps in pod_specs(doc)]
    for where, spec in specs:
        if where.endswith("/head"):
            # The autoscaler sidecar scales the worker groups through the Kubernetes API.
            assert "automountServiceAccountToken" not in spec, where
        else:
            assert spec["automountServiceAccountToken"] is False, where


def test_a_head_without_the_autoscaler_mounts_no_token(helm):
    docs = render(helm, "--set", "ray.autoscaler.enabled=false")
    head = raycluster(docs)["spec"]["headGroupSpec"]["template"]["spec"]
    assert head["automountServiceAccountToken"] is False


READ_ONLY = {
    f"Deployment/{RELEASE}-minio": {"/data", "/tmp"},
    f"StatefulSet/{RELEASE}-postgres": {"/var/lib/postgresql/data", "/var/run/postgresql", "/tmp"},
    f"Job/{RELEASE}-create-bucket": {"/tmp"},
}


def test_minio_postgres_and_the_bucket_job_have_read_only_root_filesystems(rendered, helm):
    specs = dict(ps for doc in rendered["kind"] for ps in pod_specs(doc))
    for where, writable in READ_ONLY.items():
        (container,) = specs[where]["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, where
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}, where
        assert {m["mountPath"] for m in container["volumeMounts"]} == writable, where
    # Ray writes outside its volumes (templates/_raypod.tpl says why).
    for container in ray_containers(rendered["kind"]).values():
        assert "readOnlyRootFilesystem" not in container["securityContext"]
    off = render(
        helm,
        *profile_args("kind"),
        "--set",
        "containerSecurityContext.readOnlyRootFilesystem=false",
    )
    minio = one(off, "Deployment", f"{RELEASE}-minio")["spec"]["template"]["spec"]["containers"][0]
    assert minio["securityContext"]["readOnlyRootFilesystem"] is False
