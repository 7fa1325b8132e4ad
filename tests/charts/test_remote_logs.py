"""Task logs that outlive pods: the logs bucket, its MinIO user, the logs connection, and the
Airflow values that point remote logging at them.

The chart (charts/ray-platform) makes the bucket, the user and the connection; the Airflow values
(charts/values/airflow-kind.yaml, airflow-cloud.yaml) switch Airflow's remote logging on with
`config.logging`, because both Airflow charts set `remote_logging` themselves (a variable from
the connections Secret would lose to theirs in charts/airflow-local). So the tests check that the
two sides agree, and that Airflow 3.3 itself, given the rendered settings, writes a task log to
an S3 server and reads it back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.s3_server import RcloneS3Server
from tests.charts.conftest import (
    NAMESPACE,
    RELEASE,
    ROOT,
    VALUES,
    load_yaml,
    of_kind,
    one,
    pod_specs,
    render,
    run_helm,
)
from tests.charts.test_airflow_local import profile_args as airflow_args
from tests.charts.test_airflow_local import render_local
from tests.charts.test_chart import (
    render_against,
    run_bucket_job,
    secret_data,
    secret_refs,
    secrets_by_name,
)

# The Airflow values file each ray-platform profile is installed with (charts/README.md).
AIRFLOW_PROFILE = {"kind": "kind", "gke": "cloud", "eks": "cloud", "aks": "cloud"}
AIRFLOW_FILE = {"kind": "airflow-kind.yaml", "cloud": "airflow-cloud.yaml"}
CONNECTIONS = f"{RELEASE}-airflow-connections"
LOGS_USER = f"{RELEASE}-store-logs-user"
# What Airflow's S3 log handler calls: head/get (read, append), put (write), list (read back).
LOGS_ACTIONS = {"s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject", "s3:PutObject"}


def connections(docs: list[dict]) -> dict[str, str]:
    return secret_data(one(docs, "Secret", CONNECTIONS))


def bucket_job_env(docs: list[dict]) -> dict[str, dict]:
    job = one(docs, "Job", f"{RELEASE}-create-bucket")
    return {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}


def airflow_logging(profile: str) -> dict[str, str]:
    """[logging] of the Airflow values a ray-platform profile is installed with."""
    config = load_yaml(VALUES / AIRFLOW_FILE[AIRFLOW_PROFILE[profile]])["config"]
    return config["logging"]


def logs_bucket(profile: str) -> str:
    """The bucket the profile's Airflow values write the task logs to."""
    folder = airflow_logging(profile)["remote_base_log_folder"]
    assert folder.startswith("s3://"), folder
    return folder.removeprefix("s3://").split("/", 1)[0]


# --- the bucket and who may use it --------------------------------------------------------------


@pytest.mark.parametrize("profile", ["kind", "aks"])
def test_the_bucket_job_makes_the_bucket_the_airflow_values_name(rendered, profile, tmp_path):
    env = bucket_job_env(rendered[profile])
    assert env["LOGS_BUCKET"]["value"] == logs_bucket(profile)
    job = one(rendered[profile], "Job", f"{RELEASE}-create-bucket")
    code, calls, _ = run_bucket_job(tmp_path, job, LOGS_BUCKET=env["LOGS_BUCKET"]["value"])
    assert code == 0, calls
    made = [c.rsplit("/", 1)[-1] for c in calls if " mb " in f" {c}"]
    assert made == ["checkpoints", logs_bucket(profile)]


@pytest.mark.parametrize("profile", ["gke", "eks"])
def test_external_profiles_name_the_bucket_airflow_writes_to(profile):
    """No Job there: you create the bucket; the profile names it once for both charts."""
    assert load_yaml(VALUES / f"{profile}.yaml")["store"]["logsBucket"] == logs_bucket(profile)


def test_the_logs_user_may_only_list_read_and_write_the_logs_bucket(rendered, tmp_path):
    job = one(rendered["kind"], "Job", f"{RELEASE}-create-bucket")
    env = bucket_job_env(rendered["kind"])
    assert env["LOGS_POLICY"]["value"] == "logs-airflow-logs"
    assert env["LOGS_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == LOGS_USER
    code, calls, policies = run_bucket_job(tmp_path, job)
    assert code == 0, calls
    statements = json.loads(policies["logs-policy.json"])["Statement"]
    actions = {a for s in statements for a in s["Action"]}
    resources = {r for s in statements for r in s["Resource"]}
    assert actions <= LOGS_ACTIONS, actions
    assert resources == {"arn:aws:s3:::logs", "arn:aws:s3:::logs/*"}
    assert all(s["Effect"] == "Allow" for s in statements)
    # ... and the checkpoint user (Ray's) gets nothing of the logs bucket.
    assert "logs" not in policies["policy.json"]


def test_the_logs_keys_go_to_airflow_only(rendered):
    docs = rendered["kind"]
    logs_user = secret_data(one(docs, "Secret", LOGS_USER))
    checkpoint_user = secret_data(one(docs, "Secret", f"{RELEASE}-store-user"))
    assert logs_user["accessKey"] != checkpoint_user["accessKey"]
    assert len(logs_user["secretKey"]) >= 40
    conn = json.loads(connections(docs)["AIRFLOW_CONN_S3_LOGS"])
    assert conn["conn_type"] == "aws"
    assert (conn["login"], conn["password"]) == (logs_user["accessKey"], logs_user["secretKey"])
    assert conn["extra"] == {
        "endpoint_url": f"http://{RELEASE}-minio.{NAMESPACE}.svc:9000",
        "region_name": "us-east-1",
    }
    readers = {
        where for doc in docs for where, spec in pod_specs(doc) if LOGS_USER in secret_refs(spec)
    }
    assert readers == {f"Job/{RELEASE}-create-bucket"}, "only the Job (and Airflow) get those keys"


@pytest.mark.parametrize("profile", ["eks", "aks"])
def test_without_minio_the_logs_connection_uses_the_stores_keys(rendered, profile):
    data = connections(rendered[profile])
    logs = json.loads(data["AIRFLOW_CONN_S3_LOGS"])
    checkpoints = json.loads(data["AIRFLOW_CONN_S3_CHECKPOINTS"])
    # The same keys, or none on either (EKS: the pods' IAM role, store.auth podIdentity).
    assert (logs.get("login"), logs.get("password")) == (
        checkpoints.get("login"),
        checkpoints.get("password"),
    )
    assert logs["extra"].get("endpoint_url") == checkpoints["extra"].get("endpoint_url")
    assert LOGS_USER not in secrets_by_name(rendered[profile])


def test_gke_logs_get_their_own_hmac_key_beside_workload_identity(rendered):
    """GCS with Workload Identity: no keys for checkpoints; Airflow's log handler needs some."""
    data = connections(rendered["gke"])
    logs = json.loads(data["AIRFLOW_CONN_S3_LOGS"])
    checkpoints = json.loads(data["AIRFLOW_CONN_S3_CHECKPOINTS"])
    assert "login" not in checkpoints
    assert "ray-platform-logs-hmac" in logs["login"]
    assert logs["extra"]["endpoint_url"] == checkpoints["extra"]["endpoint_url"]
    assert LOGS_USER not in secrets_by_name(rendered["gke"])


def test_the_logs_keys_appear_only_in_secrets(rendered):
    docs = rendered["kind"]
    keys = secret_data(one(docs, "Secret", LOGS_USER))
    for doc in docs:
        if doc["kind"] != "Secret":
            text = json.dumps(doc)
            assert keys["secretKey"] not in text, f"{doc['kind']}/{doc['metadata']['name']}"
    for path in [ROOT / "charts" / "ray-platform" / "values.yaml", *VALUES.glob("*.yaml")]:
        assert keys["secretKey"] not in path.read_text()


def test_the_logs_user_survives_upgrades(helm, tmp_path):
    first = render(helm, "-f", str(VALUES / "kind.yaml"))
    upgraded = render_against(
        helm, tmp_path, of_kind(first, "Secret"), "-f", str(VALUES / "kind.yaml")
    )
    before, after = secrets_by_name(first), secrets_by_name(upgraded)
    assert after[LOGS_USER] == before[LOGS_USER]
    assert after[CONNECTIONS]["AIRFLOW_CONN_S3_LOGS"] == before[CONNECTIONS]["AIRFLOW_CONN_S3_LOGS"]
    assert one(first, "Secret", LOGS_USER)["metadata"]["annotations"] == {
        "helm.sh/resource-policy": "keep"
    }


def test_a_logs_user_from_your_secret(helm):
    args = ["--set", "store.minio.logsUser.existingSecret=my-logs"]
    docs = render(helm, *args)
    assert LOGS_USER not in secrets_by_name(docs)
    assert "my-logs" in secret_refs(one(docs, "Job")["spec"]["template"]["spec"])
    assert "my-logs" in connections(docs)["AIRFLOW_CONN_S3_LOGS"]  # the offline placeholder
    result = run_helm(helm, *args, "--api-versions", "ray.io/v1")
    assert result.returncode != 0
    assert 'Secret "my-logs" (key "accessKey") was not found' in result.stderr


def test_remote_logging_off_makes_no_bucket_user_or_connection(helm):
    docs = render(
        helm, "-f", str(VALUES / "kind.yaml"), "--set", "airflow.remoteLogging.enabled=false"
    )
    assert "LOGS_BUCKET" not in bucket_job_env(docs)
    assert LOGS_USER not in secrets_by_name(docs)
    assert "AIRFLOW_CONN_S3_LOGS" not in connections(docs)
    script = one(docs, "Job")["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "LOGS" not in script


# --- the Airflow side --------------------------------------------------------------------------


@pytest.mark.parametrize("profile", AIRFLOW_PROFILE)
def test_airflow_values_point_remote_logging_at_the_charts_connection(rendered, profile):
    logging = airflow_logging(profile)
    assert logging["remote_logging"] == "True"
    folder = logging["remote_base_log_folder"]
    values = load_yaml(ROOT / "charts" / "ray-platform" / "values.yaml")["airflow"]["remoteLogging"]
    assert folder == f"s3://{logs_bucket(profile)}/{values['prefix']}"
    conn_id = logging["remote_log_conn_id"]
    assert conn_id == values["connId"]
    conn = json.loads(connections(rendered[profile])[f"AIRFLOW_CONN_{conn_id.upper()}"])
    assert conn["conn_type"] == "aws"
    # The connections Secret reaches every Airflow pod.
    env_from = load_yaml(VALUES / "airflow.yaml")["extraEnvFrom"]
    assert CONNECTIONS in env_from


@pytest.fixture(scope="module")
def airflow(helm) -> dict[str, list[dict]]:
    return {profile: render_local(helm, *airflow_args(profile)) for profile in AIRFLOW_FILE}


def component_env(doc: dict) -> dict[str, str]:
    container = doc["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container["env"]}


# Who needs remote logging: the scheduler's task processes write (LocalExecutor), the triggerer
# writes its triggers' logs, the api-server reads back; the dag-processor shares the config.
COMPONENTS = {
    "kind": {"scheduler", "api-server", "dag-processor", "triggerer"},
    "cloud": {"scheduler", "api-server", "dag-processor", "triggerer"},
}


@pytest.mark.parametrize("profile", AIRFLOW_FILE)
def test_every_airflow_component_gets_the_same_remote_logging(airflow, profile):
    """charts/airflow-local turns `config` into each component's environment (the official chart
    into the airflow.cfg they all mount): writers and the reader see the same bucket and conn."""
    logging = load_yaml(VALUES / AIRFLOW_FILE[profile])["config"]["logging"]
    want = {f"AIRFLOW__LOGGING__{key.upper()}": value for key, value in logging.items()}
    deployments = {
        d["metadata"]["name"].removeprefix("airflow-"): d
        for d in of_kind(airflow[profile], "Deployment")
    }
    assert set(deployments) == COMPONENTS[profile]
    for name, doc in deployments.items():
        env = component_env(doc)
        assert {k: env.get(k) for k in want} == want, name
        env_from = doc["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        assert {"secretRef": {"name": CONNECTIONS}} in env_from, name
    # The upstream chart's own default would switch it off again: ours must be the one set.
    assert load_yaml(VALUES / "airflow.yaml").get("config", {}).get("logging") is None


ROUND_TRIP = """
import json, os, pathlib, sys
rel = "dag_id=higgs/run_id=r1/task_id=train/attempt=1.log"
if sys.argv[1] == "write":
    from airflow.sdk.log import load_remote_conn_id, load_remote_log_handler
    handler = load_remote_log_handler()  # what the task supervisor uploads with
    path = pathlib.Path(os.environ["AIRFLOW__LOGGING__BASE_LOG_FOLDER"]) / rel
    path.parent.mkdir(parents=True)
    path.write_text("trained 20 rounds\\n")
    handler.upload(rel)
    print(json.dumps([type(handler).__name__, handler.remote_base, load_remote_conn_id()]))
else:
    from airflow.logging_config import get_default_remote_conn_id, get_remote_task_log
    handler = get_remote_task_log()  # what the api-server reads task logs back with
    sources, logs = handler.read(rel, None)
    print(json.dumps([type(handler).__name__, get_default_remote_conn_id(), sources, logs]))
"""


def airflow_process(mode: str, env: dict[str, str], home: Path) -> list:
    result = subprocess.run(
        [sys.executable, "-c", ROUND_TRIP, mode],
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def logs_server():
    server = RcloneS3Server(bucket="logs").start()
    try:
        yield server
    finally:
        server.discard()


def test_airflow_writes_a_task_log_and_the_api_server_reads_it_back(
    rendered, airflow, logs_server, tmp_path
):
    """Airflow 3.3 with the rendered settings: the scheduler's environment uploads a task log
    through the logs connection, the api-server's (another process, another home) reads it back.
    Only the connection's address and keys are the local server's instead of the cluster's."""
    conn = json.loads(connections(rendered["kind"])["AIRFLOW_CONN_S3_LOGS"])
    conn.update(login=logs_server.access_key, password=logs_server.secret_key)
    conn["extra"]["endpoint_url"] = logs_server.endpoint_url
    by_name = {d["metadata"]["name"]: d for d in of_kind(airflow["kind"], "Deployment")}

    def settings(component: str) -> dict[str, str]:
        env = component_env(by_name[f"airflow-{component}"])
        logging = {k: v for k, v in env.items() if k.startswith("AIRFLOW__LOGGING__") and v}
        return {**logging, "AIRFLOW_CONN_S3_LOGS": json.dumps(conn)}

    (tmp_path / "scheduler").mkdir()
    (tmp_path / "api").mkdir()
    written = airflow_process("write", settings("scheduler"), tmp_path / "scheduler")
    assert written == ["S3RemoteLogIO", "s3://logs/airflow", "s3_logs"]
    name, conn_id, sources, logs = airflow_process("read", settings("api-server"), tmp_path / "api")
    assert (name, conn_id) == ("S3RemoteLogIO", "s3_logs")
    assert sources == ["s3://logs/airflow/dag_id=higgs/run_id=r1/task_id=train/attempt=1.log"]
    assert logs == ["trained 20 rounds\n"]


# --- values that do not fit together -----------------------------------------------------------


def test_an_external_store_needs_a_logs_bucket(helm):
    external = ["--set", "store.kind=external", "--set", "store.existingSecret=keys"]
    result = run_helm(helm, *external)
    assert result.returncode != 0
    assert "store.kind external but store.logsBucket is empty" in result.stderr
    assert "airflow.remoteLogging.enabled=false" in result.stderr
    assert run_helm(helm, *external, "--set", "store.logsBucket=my-logs").returncode == 0
    assert run_helm(helm, *external, "--set", "airflow.remoteLogging.enabled=false").returncode == 0


def test_minio_refuses_the_checkpoint_bucket_for_logs(helm):
    result = run_helm(helm, "--set", "store.logsBucket=checkpoints")
    assert result.returncode != 0
    assert "the logs user would get the checkpoints" in result.stderr


def test_remote_logging_needs_the_connections_secret(helm):
    result = run_helm(helm, "--set", "airflow.connections.create=false")
    assert result.returncode != 0
    assert "their connections (and the Git bundle list) reach Airflow" in result.stderr


def test_connection_ids_must_differ(helm):
    result = run_helm(helm, "--set", "airflow.remoteLogging.connId=S3_CHECKPOINTS")
    assert result.returncode != 0
    assert "Airflow connection ids must differ" in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--set", "store.logsBucket=Logs_Bucket"], "/store/logsBucket"),
        (["--set", "airflow.remoteLogging.enabled=yes"], "/airflow/remoteLogging/enabled"),
        (["--set", "airflow.remoteLogging.connId=s3-logs"], "/airflow/remoteLogging/connId"),
        (["--set", "airflow.remoteLogging.prefix=a b"], "/airflow/remoteLogging/prefix"),
        (["--set", "store.minio.logsUser.secret=x"], "/store/minio/logsUser"),
    ],
)
def test_schema_rejects_a_wrong_logs_value_with_its_path(helm, args, expected):
    result = run_helm(helm, *args)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert expected in result.stderr, result.stderr
