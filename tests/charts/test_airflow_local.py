"""charts/airflow-local: the air-gapped stand-in for the official Airflow chart.

It must take this project's values for the official chart (charts/values/airflow.yaml plus
airflow-kind.yaml or airflow-cloud.yaml) unchanged, and give the pods what the official chart
gives them: names, labels, images, security contexts, the environment, the Jobs. Rendered offline
with helm, under the release name the project installs Airflow as ("airflow").
"""

from __future__ import annotations

import base64
import subprocess

import kubernetes_validate
import pytest
import yaml

from tests.charts.conftest import NAMESPACE, ROOT, UPSTREAM, VALUES, lint, load_yaml, of_kind, one
from tests.charts.test_upstream_values import unknown_keys

LOCAL = ROOT / "charts" / "airflow-local"
RELEASE = "airflow"
PROFILES = {"kind": "airflow-kind.yaml", "cloud": "airflow-cloud.yaml"}
KUBE_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
POD_KINDS = ("Deployment", "Job")

# Where this chart's defaults knowingly differ from the official chart's (values.yaml says
# "Default differs" at each): features it does not have are off, the versions are this project's,
# probes are cheaper, no literal password.
DEVIATIONS = {
    "executor",
    "statsd.enabled",
    "postgresql.enabled",
    "workers.persistence.enabled",
    "triggerer.persistence.enabled",
    "defaultAirflowTag",
    "airflowVersion",
    "webserver.defaultUser.password",
    "createUserJob.args",
    "migrateDatabaseJob.args",
    "apiServer.args",
    "apiServer.livenessProbe.timeoutSeconds",
    "apiServer.livenessProbe.periodSeconds",
    "apiServer.readinessProbe.timeoutSeconds",
    "apiServer.readinessProbe.periodSeconds",
    "apiServer.startupProbe.timeoutSeconds",
    "apiServer.startupProbe.failureThreshold",
    "apiServer.startupProbe.periodSeconds",
    "scheduler.livenessProbe.timeoutSeconds",
    "scheduler.startupProbe.failureThreshold",
    "scheduler.startupProbe.periodSeconds",
    "scheduler.startupProbe.timeoutSeconds",
    "triggerer.livenessProbe.timeoutSeconds",
    "dagProcessor.livenessProbe.timeoutSeconds",
}


def run_local(helm: str, *args: str) -> subprocess.CompletedProcess:
    """``helm template`` of this chart as the release "airflow" (conftest's render() always
    renders as "ray-platform", which would rename every object)."""
    cmd = [helm, "template", RELEASE, str(LOCAL), "--namespace", NAMESPACE, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def render_local(helm: str, *args: str) -> list[dict]:
    result = run_local(helm, *args)
    assert result.returncode == 0, f"helm template {' '.join(args)} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def profile_args(profile: str) -> list[str]:
    return ["-f", str(VALUES / "airflow.yaml"), "-f", str(VALUES / PROFILES[profile])]


def profile_values(profile: str) -> dict:
    """airflow.yaml with the profile on top, merged the way helm merges -f files."""

    def merge(base: dict, top: dict) -> dict:
        out = dict(base)
        for key, value in top.items():
            both_maps = isinstance(value, dict) and isinstance(out.get(key), dict)
            out[key] = merge(out[key], value) if both_maps else value
        return out

    return merge(load_yaml(VALUES / "airflow.yaml"), load_yaml(VALUES / PROFILES[profile]))


@pytest.fixture(scope="module")
def local(helm: str) -> dict[str, list[dict]]:
    return {profile: render_local(helm, *profile_args(profile)) for profile in PROFILES}


def pods(docs: list[dict]) -> list[tuple[str, dict]]:
    """(kind/name, pod template) of every Deployment and Job."""
    return [
        (f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"])
        for d in docs
        if d["kind"] in POD_KINDS
    ]


def all_containers(template: dict) -> list[dict]:
    spec = template["spec"]
    return list(spec.get("initContainers") or []) + list(spec["containers"])


def airflow_containers(template: dict) -> list[dict]:
    """Containers that run Airflow itself (the log groomer sidecars only delete files)."""
    return [c for c in all_containers(template) if not c["name"].endswith("-log-groomer")]


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env") or []}


def secret_ref(entry: dict) -> tuple[str, str]:
    ref = entry["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


def deployment(docs: list[dict], component: str) -> dict:
    return one(docs, "Deployment", f"{RELEASE}-{component}")


def main_container(doc: dict, name: str) -> dict:
    found = [c for c in doc["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    assert len(found) == 1, f"{doc['metadata']['name']} has no container {name}"
    return found[0]


# --- renders, lint, schemas -------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_renders_the_official_charts_objects(local, profile):
    docs = local[profile]
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    expected = {
        ("Deployment", "airflow-api-server"),
        ("Deployment", "airflow-scheduler"),
        ("Deployment", "airflow-dag-processor"),
        ("Service", "airflow-api-server"),
        ("Job", "airflow-run-airflow-migrations"),
        ("Job", "airflow-create-user"),
        ("Secret", "airflow-fernet-key"),
    }
    assert expected <= names
    # Our values name the ray-platform chart's kept Secret for the api and JWT keys.
    assert not {("Secret", "airflow-api-secret-key"), ("Secret", "airflow-jwt-secret")} & names
    triggerer = profile_values(profile)["triggerer"]["enabled"]
    assert (("Deployment", "airflow-triggerer") in names) is triggerer
    # Nothing the official chart would add for these values and this chart lacks.
    assert not of_kind(docs, "StatefulSet") and not of_kind(docs, "Ingress")


@pytest.mark.parametrize("profile", PROFILES)
def test_helm_lint_passes(helm, profile):
    result = lint(helm, LOCAL, *profile_args(profile))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_chart_alone_renders_and_lints(helm):
    assert render_local(helm)
    result = subprocess.run(
        [helm, "lint", "--strict", str(LOCAL)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("profile", PROFILES)
def test_manifests_match_the_kubernetes_schemas(local, profile):
    for version in KUBE_VERSIONS:
        for doc in local[profile]:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as err:
                pytest.fail(
                    f"{doc['kind']}/{doc['metadata']['name']} (Kubernetes {version}): {err}"
                )


# --- values: the same keys as the official chart ------------------------------------------------


@pytest.mark.parametrize("name", ["airflow.yaml", *PROFILES.values()])
def test_every_key_of_our_airflow_values_is_declared_here(name):
    """Nothing in our values files is silently dropped: this chart declares every key."""
    ours = load_yaml(VALUES / name)
    missing = unknown_keys(ours, load_yaml(LOCAL / "values.yaml"))
    assert not missing, f"{name} sets keys charts/airflow-local/values.yaml lacks: {missing}"


def test_the_key_walk_catches_an_undeclared_key():
    declared = load_yaml(LOCAL / "values.yaml")
    assert unknown_keys({"apiServer": {"hpa": {"enabled": True}}}, declared) == ["apiServer.hpa"]
    assert unknown_keys({"scheduler": {"logGroomerSidecar": {"enabled": False}}}, declared) == []


def test_every_key_here_is_a_key_of_the_official_chart():
    missing = unknown_keys(
        load_yaml(LOCAL / "values.yaml"), load_yaml(UPSTREAM / "airflow-chart-values.yaml")
    )
    assert not missing, (
        f"charts/airflow-local/values.yaml has keys the official chart lacks: {missing}"
    )


def leaves(node, path=""):
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from leaves(value, f"{path}.{key}" if path else str(key))
    else:
        yield path, node


def test_defaults_are_the_official_ones_unless_marked():
    upstream = load_yaml(UPSTREAM / "airflow-chart-values.yaml")
    differ = []
    for path, value in leaves(load_yaml(LOCAL / "values.yaml")):
        if path.startswith("config."):
            continue  # the official config also holds Celery, Kubernetes, Kerberos sections
        theirs = upstream
        for key in path.split("."):
            theirs = theirs[key]
        if value != theirs and path not in DEVIATIONS:
            differ.append(f"{path}: {value!r} (official {theirs!r})")
    assert not differ, differ


def comment_above(lines: list[str], path: str) -> list[str]:
    """For each key of a dotted path in values.yaml, top key first: the nearest comment above it
    at its indentation (sibling keys without a comment of their own, like `command: ~` above
    `args:`, share the one above them)."""
    found, start = [], 0
    for depth, key in enumerate(path.split(".")):
        indent = " " * (2 * depth)
        start = next(i for i in range(start, len(lines)) if lines[i].startswith(f"{indent}{key}:"))
        i = start - 1
        while i >= 0 and lines[i].startswith(indent) and lines[i][len(indent) :][:1] not in "#":
            i -= 1  # a sibling key or a line below one (a blank line stops the search too)
        comment = []
        while i >= 0 and lines[i].startswith(f"{indent}#"):
            comment.insert(0, lines[i])
            i -= 1
        found.append(" ".join(comment))
    return found


def test_every_default_that_differs_says_so():
    lines = (LOCAL / "values.yaml").read_text().splitlines()
    for path in sorted(DEVIATIONS):
        comments = comment_above(lines, path)
        nearest = comments[1:] if len(comments) > 1 else comments
        assert any("Default differs" in c for c in nearest), path
    # ... and the search does not find one where there is none.
    assert not any("Default differs" in c for c in comment_above(lines, "scheduler.replicas")[1:])


# --- pods -----------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_every_pod_carries_the_ray_client_label(local, profile):
    """The ray-platform NetworkPolicy lets only pods with these labels reach Ray Client."""
    ray_values = load_yaml(ROOT / "charts" / "ray-platform" / "values.yaml")
    wanted = ray_values["networkPolicy"]["clientPodLabels"]
    assert wanted == {"ray-platform/ray-client": "true"}
    found = pods(local[profile])
    assert len(found) == 6  # api-server, scheduler, dag-processor, triggerer and two jobs
    for where, template in found:
        labels = template["metadata"]["labels"]
        assert wanted.items() <= labels.items(), f"{where} lacks {wanted}"


@pytest.mark.parametrize("profile", PROFILES)
def test_every_pod_runs_as_the_airflow_user_without_privilege_escalation(local, profile):
    for where, template in pods(local[profile]):
        pod = template["spec"]["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 50000, where
        for container in all_containers(template):
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, f"{where}/{container['name']}"
            assert ctx["capabilities"]["drop"] == ["ALL"], f"{where}/{container['name']}"


@pytest.mark.parametrize("profile", PROFILES)
def test_every_container_runs_the_image_of_our_values(local, profile):
    images = load_yaml(VALUES / "airflow.yaml")["images"]["airflow"]
    image = f"{images['repository']}:{images['tag']}"
    for where, template in pods(local[profile]):
        for container in all_containers(template):
            assert container["image"] == image, f"{where}/{container['name']}"
            assert container["imagePullPolicy"] == images["pullPolicy"]


@pytest.mark.parametrize("profile", PROFILES)
def test_every_airflow_container_gets_the_database_connections_and_settings(local, profile):
    values = profile_values(profile)
    metadata = values["data"]["metadataSecretName"]
    plain_env = {e["name"]: e["value"] for e in values["env"]}
    assert plain_env["AIRFLOW__CORE__XCOM_BACKEND"] == "ray_provider.xcom.RayXComBackend"
    checked = 0
    for where, template in pods(local[profile]):
        for container in airflow_containers(template):
            what = f"{where}/{container['name']}"
            names = [e["name"] for e in container["env"]]
            assert len(names) == len(set(names)), f"{what} sets a variable twice"
            env = env_of(container)
            conn = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
            assert secret_ref(conn) == (metadata, "connection"), what
            assert secret_ref(env["AIRFLOW__CORE__FERNET_KEY"]) == (
                "airflow-fernet-key",
                "fernet-key",
            )
            assert secret_ref(env["AIRFLOW__API_AUTH__JWT_SECRET"]) == (
                "ray-platform-airflow-api",
                "jwt-secret",
            )
            assert secret_ref(env["AIRFLOW__API__SECRET_KEY"]) == (
                "ray-platform-airflow-api",
                "api-secret-key",
            )
            assert {"secretRef": {"name": "ray-platform-airflow-connections"}} in container[
                "envFrom"
            ]
            for name, value in plain_env.items():
                assert env[name]["value"] == value, f"{what}: {name}"
            assert env["AIRFLOW__CORE__EXECUTOR"]["value"] == values["executor"] == "LocalExecutor"
            assert env["AIRFLOW__CORE__LOAD_EXAMPLES"]["value"] == "False"
            assert (
                env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]["value"]
                == "http://airflow-api-server:8080/execution/"
            )
            assert "FabAuthManager" in env["AIRFLOW__CORE__AUTH_MANAGER"]["value"]
            for section, settings in values.get("config", {}).items():
                for key, value in settings.items():
                    name = f"AIRFLOW__{section.upper()}__{key.upper()}"
                    assert env[name]["value"] == str(value), f"{what}: {name}"
            checked += 1
    assert checked == 11  # every container and init container of the six pods


def test_config_becomes_the_api_servers_worker_count(local):
    assert load_yaml(VALUES / "airflow-kind.yaml")["config"]["api"]["workers"] == 1
    api = main_container(deployment(local["kind"], "api-server"), "api-server")
    assert env_of(api)["AIRFLOW__API__WORKERS"] == {"name": "AIRFLOW__API__WORKERS", "value": "1"}
    cloud = main_container(deployment(local["cloud"], "api-server"), "api-server")
    assert "AIRFLOW__API__WORKERS" not in env_of(cloud)


def test_an_env_variable_replaces_the_config_entry_of_the_same_name(helm):
    docs = render_local(
        helm,
        *profile_args("kind"),
        "--set-json",
        'env=[{"name": "AIRFLOW__API__WORKERS", "value": "3"}]',
    )
    api = main_container(deployment(docs, "api-server"), "api-server")
    workers = [e for e in api["env"] if e["name"] == "AIRFLOW__API__WORKERS"]
    assert workers == [{"name": "AIRFLOW__API__WORKERS", "value": "3"}]


@pytest.mark.parametrize("profile", PROFILES)
def test_create_user_runs_our_args_with_the_admin_password(local, profile):
    job = one(local[profile], "Job", "airflow-create-user")
    container = main_container(job, "create-user")
    assert container["args"] == load_yaml(VALUES / "airflow.yaml")["createUserJob"]["args"]
    password = env_of(container)["AIRFLOW_ADMIN_PASSWORD"]
    assert secret_ref(password) == ("ray-platform-airflow-admin", "password")
    assert "$AIRFLOW_ADMIN_PASSWORD" in container["args"][-1]


@pytest.mark.parametrize("profile", PROFILES)
def test_pods_wait_for_the_migration_that_the_migrate_job_runs(local, profile):
    docs = local[profile]
    migrate = one(docs, "Job", "airflow-run-airflow-migrations")
    command = " ".join(main_container(migrate, "run-airflow-migrations")["args"])
    assert "airflow db migrate" in command
    assert not migrate["spec"]["template"]["spec"].get("initContainers")
    for where, template in pods(docs):
        if where == "Job/airflow-run-airflow-migrations":
            continue
        inits = template["spec"]["initContainers"]
        assert [c["name"] for c in inits] == ["wait-for-airflow-migrations"], where
        assert inits[0]["args"][:3] == ["airflow", "db", "check-migrations"], where
    create_user = one(docs, "Job", "airflow-create-user")["spec"]["template"]["spec"]
    timeout = create_user["initContainers"][0]["args"][3]
    assert int(timeout.split("=")[1]) >= 600


@pytest.mark.parametrize("profile", PROFILES)
def test_resources_come_from_the_profile(local, profile):
    values = profile_values(profile)
    docs = local[profile]
    for key, component in [
        ("apiServer", "api-server"),
        ("scheduler", "scheduler"),
        ("dagProcessor", "dag-processor"),
    ]:
        container = main_container(deployment(docs, component), component)
        assert container["resources"] == values[key]["resources"], component
    for key, name, container in [
        ("migrateDatabaseJob", "airflow-run-airflow-migrations", "run-airflow-migrations"),
        ("createUserJob", "airflow-create-user", "create-user"),
    ]:
        job = one(docs, "Job", name)
        assert main_container(job, container)["resources"] == values[key]["resources"]
        assert job["spec"]["ttlSecondsAfterFinished"] == values[key]["ttlSecondsAfterFinished"]


def test_components_run_the_airflow_3_commands_with_cheap_probes(local):
    docs = local["cloud"]
    commands = {
        "api-server": "exec airflow api-server --port 8080",
        "scheduler": "exec airflow scheduler",
        "dag-processor": "exec airflow dag-processor",
        "triggerer": "exec airflow triggerer",
    }
    for component, command in commands.items():
        container = main_container(deployment(docs, component), component)
        assert container["args"] == ["bash", "-c", command]
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if probe in container:
                assert container[probe]["periodSeconds"] >= 15, f"{component} {probe}"
                assert container[probe]["timeoutSeconds"] >= 20, f"{component} {probe}"
    api = main_container(deployment(docs, "api-server"), "api-server")
    ports = {p["name"]: p["containerPort"] for p in api["ports"]}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        get = api[probe]["httpGet"]
        assert get["path"] == "/api/v2/monitor/health" and ports[get["port"]] == 8080
    for component, job_type in [
        ("scheduler", "SchedulerJob"),
        ("dag-processor", "DagProcessorJob"),
        ("triggerer", "TriggererJob"),
    ]:
        probe = main_container(deployment(docs, component), component)["livenessProbe"]
        assert f"airflow jobs check --job-type {job_type} --local" in probe["exec"]["command"][-1]


def test_make_e2e_finds_the_scheduler_container(local):
    """charts/scripts/e2e.sh runs the Airflow CLI in deploy/<release>-scheduler -c scheduler."""
    script = (ROOT / "charts" / "scripts" / "e2e.sh").read_text()
    assert 'deploy/"$AIRFLOW_RELEASE"-scheduler -c scheduler' in script
    main_container(deployment(local["kind"], "scheduler"), "scheduler")


def test_the_optional_values_render_valid_manifests(helm, tmp_path):
    extra = {
        "imagePullSecrets": ["regcred", {"name": "other"}],
        "extraEnv": '- name: FROM_EXTRA_ENV\n  value: "{{ .Release.Name }}"\n',
        "secret": [{"envName": "NO_KEY", "secretName": "s"}],
        "volumes": [{"name": "extra", "emptyDir": {}}],
        "volumeMounts": [{"name": "extra", "mountPath": "/extra"}],
        "scheduler": {"serviceAccount": {"create": False, "name": "custom"}, "labels": {"t": "d"}},
        "dagProcessor": {"enabled": False},
        "apiServer": {
            "service": {"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.0/8"]}
        },
        "images": {"useDefaultImageForMigration": True},
        "defaultAirflowRepository": "example/airflow",
    }
    path = tmp_path / "extra.yaml"
    path.write_text(yaml.safe_dump(extra))
    docs = render_local(helm, *profile_args("cloud"), "-f", str(path))
    for doc in docs:
        kubernetes_validate.validate(doc, KUBE_VERSIONS[-1], strict=True)
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("Deployment", "airflow-dag-processor") not in names
    assert ("ServiceAccount", "airflow-scheduler") not in names
    scheduler = deployment(docs, "scheduler")["spec"]["template"]
    assert scheduler["spec"]["serviceAccountName"] == "custom"
    assert scheduler["metadata"]["labels"]["t"] == "d"
    assert scheduler["spec"]["imagePullSecrets"] == [{"name": "regcred"}, {"name": "other"}]
    env = env_of(main_container(deployment(docs, "scheduler"), "scheduler"))
    assert env["FROM_EXTRA_ENV"]["value"] == RELEASE
    assert secret_ref(env["NO_KEY"]) == ("s", "value")
    migrate = one(docs, "Job", "airflow-run-airflow-migrations")
    image = main_container(migrate, "run-airflow-migrations")["image"]
    assert image.startswith("example/airflow:")


# --- the api-server Service -------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_api_server_service_follows_the_profile(local, profile):
    docs = local[profile]
    service = one(docs, "Service", "airflow-api-server")
    wanted = profile_values(profile)["apiServer"]["service"]
    assert service["spec"]["type"] == wanted["type"]
    (port,) = service["spec"]["ports"]
    if profile == "kind":
        assert wanted["type"] == "NodePort"
        assert port["port"] == 8080 and port["nodePort"] == 30080
        assert wanted["ports"][0]["nodePort"] == 30080
    else:
        assert wanted["type"] == "ClusterIP"
        assert port["port"] == 8080 and "nodePort" not in port
    api = deployment(docs, "api-server")
    pod_labels = api["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    names = {p["name"] for p in main_container(api, "api-server")["ports"]}
    assert port["targetPort"] in names


def test_minikubes_cluster_ip_override_drops_the_node_port(helm):
    """make up CLUSTER=minikube adds --set apiServer.service.type=ClusterIP to the kind values;
    Kubernetes refuses a nodePort on a ClusterIP Service."""
    docs = render_local(helm, *profile_args("kind"), "--set", "apiServer.service.type=ClusterIP")
    service = one(docs, "Service", "airflow-api-server")
    assert service["spec"]["type"] == "ClusterIP"
    assert [p.get("nodePort") for p in service["spec"]["ports"]] == [None]


# --- Jobs: plain or hooks -------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_jobs_are_plain_jobs_with_our_values(local, profile):
    for name in ("airflow-run-airflow-migrations", "airflow-create-user"):
        annotations = one(local[profile], "Job", name)["metadata"].get("annotations") or {}
        assert "helm.sh/hook" not in annotations, name


def test_jobs_become_hooks_with_use_helm_hooks(helm):
    docs = render_local(
        helm,
        *profile_args("kind"),
        "--set",
        "migrateDatabaseJob.useHelmHooks=true",
        "--set",
        "createUserJob.useHelmHooks=true",
    )
    migrate = one(docs, "Job", "airflow-run-airflow-migrations")["metadata"]["annotations"]
    create = one(docs, "Job", "airflow-create-user")["metadata"]["annotations"]
    assert migrate["helm.sh/hook"] == create["helm.sh/hook"] == "post-install,post-upgrade"
    assert int(migrate["helm.sh/hook-weight"]) < int(create["helm.sh/hook-weight"])


# --- refused values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ("executor=CeleryExecutor", "executor"),
        ("executor=KubernetesExecutor", "executor"),
        ("config.core.executor=CeleryExecutor", "config.core.executor"),
        ("postgresql.enabled=true", "postgresql.enabled"),
        ("dags.gitSync.enabled=true", "dags.gitSync.enabled"),
        ("dags.persistence.enabled=true", "dags.persistence.enabled"),
        ("ingress.apiServer.enabled=true", "ingress.apiServer.enabled"),
        ("statsd.enabled=true", "statsd.enabled"),
        ("workers.persistence.enabled=true", "workers.persistence.enabled"),
        ("airflowVersion=2.10.5", "airflowVersion"),
    ],
)
def test_values_it_cannot_honour_fail_naming_the_key(helm, setting, key):
    result = run_local(helm, *profile_args("kind"), "--set", setting)
    assert result.returncode != 0, f"--set {setting} rendered"
    assert f"{key}=" in result.stderr and "official chart" in result.stderr, result.stderr


def test_triggerer_persistence_is_refused_only_with_the_triggerer(helm):
    on = run_local(helm, *profile_args("cloud"), "--set", "triggerer.persistence.enabled=true")
    assert on.returncode != 0 and "triggerer.persistence.enabled" in on.stderr
    off = ["--set", "triggerer.persistence.enabled=true", "--set", "triggerer.enabled=false"]
    assert run_local(helm, *profile_args("kind"), *off).returncode == 0


# --- generated Secrets ----------------------------------------------------------------------


def secret_data(doc: dict) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()}


@pytest.mark.parametrize("profile", [*PROFILES, "alone"])
def test_generated_keys_are_usable_and_stay_in_their_secrets(helm, local, profile):
    # Our values take the api and JWT keys from ray-platform; the chart alone makes them.
    docs = render_local(helm) if profile == "alone" else local[profile]
    fernet = secret_data(one(docs, "Secret", "airflow-fernet-key"))["fernet-key"]
    assert len(base64.urlsafe_b64decode(fernet)) == 32  # what cryptography's Fernet requires
    keep = one(docs, "Secret", "airflow-fernet-key")["metadata"]["annotations"]
    assert keep["helm.sh/resource-policy"] == "keep"
    values = [fernet]
    generated = [("airflow-api-secret-key", "api-secret-key"), ("airflow-jwt-secret", "jwt-secret")]
    for name, key in generated if profile == "alone" else []:
        value = secret_data(one(docs, "Secret", name))[key]
        assert len(value) >= 32
        values.append(value)
    for doc in docs:
        if doc["kind"] != "Secret":
            text = yaml.safe_dump(doc)
            assert not [v for v in values if v in text], f"{doc['kind']}/{doc['metadata']['name']}"


def test_named_secrets_replace_the_generated_ones(helm):
    docs = render_local(
        helm,
        *profile_args("kind"),
        "--set",
        "fernetKeySecretName=my-fernet",
        "--set",
        "jwtSecretName=my-jwt",
        "--set",
        "apiSecretKeySecretName=null",
    )
    names = {d["metadata"]["name"] for d in of_kind(docs, "Secret")}
    assert names == {"airflow-api-secret-key"}
    scheduler = env_of(main_container(deployment(docs, "scheduler"), "scheduler"))
    assert secret_ref(scheduler["AIRFLOW__CORE__FERNET_KEY"]) == ("my-fernet", "fernet-key")
    assert secret_ref(scheduler["AIRFLOW__API_AUTH__JWT_SECRET"]) == ("my-jwt", "jwt-secret")


@pytest.mark.parametrize("profile", PROFILES)
def test_task_logs_are_served_by_address_not_by_pod_name(local, profile):
    """The api-server reads a task's log from the scheduler's log server by the hostname the
    task recorded; a Deployment pod's name does not resolve (seen on the kind cluster)."""
    for where, template in pods(local[profile]):
        for container in airflow_containers(template):
            env = env_of(container)
            callable_ = env.get("AIRFLOW__CORE__HOSTNAME_CALLABLE", {}).get("value")
            assert callable_ == "airflow.utils.net.get_host_ip_address", where
