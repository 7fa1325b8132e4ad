"""DAGs from Git: airflow.dagBundles.git renders Airflow 3's GitDagBundle beside the image's
dags folder, with a git connection whose token comes from your Secret.

The bundle list and the connection travel in the connections Secret that every Airflow pod loads
(extraEnvFrom), so the dag-processor that parses and the task processes that run a DAG version
read the same bundles. The JSON is checked with Airflow's own parser of
[dag_processor] dag_bundle_config_list.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.charts.conftest import RELEASE, VALUES, load_yaml, one, render, run_helm
from tests.charts.test_chart import render_against, secret_data, write_values

CONNECTIONS = f"{RELEASE}-airflow-connections"
BUNDLE_LIST = "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"
REPO = "https://github.com/example/airflow-dags.git"
GIT = {"enabled": True, "repoUrl": REPO, "trackingRef": "release", "subdir": "/dags/"}


def git_values(tmp_path: Path, **git) -> list[str]:
    return write_values(tmp_path, {"airflow": {"dagBundles": {"git": {**GIT, **git}}}})


def connections(docs: list[dict]) -> dict[str, str]:
    return secret_data(one(docs, "Secret", CONNECTIONS))


def test_by_default_airflow_reads_only_the_image_dags(rendered):
    for profile, docs in rendered.items():
        data = connections(docs)
        assert BUNDLE_LIST not in data, profile
        assert not [k for k in data if k.startswith("AIRFLOW_CONN_GIT")], profile


def test_the_git_bundle_sits_beside_the_image_dags(helm, tmp_path):
    data = connections(render(helm, *git_values(tmp_path)))
    bundles = json.loads(data[BUNDLE_LIST])
    assert bundles == [
        {
            "name": "dags-folder",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {},
        },
        {
            "name": "git-dags",
            "classpath": "airflow.providers.git.bundles.git.GitDagBundle",
            "kwargs": {
                "repo_url": REPO,
                "tracking_ref": "release",
                "subdir": "dags",
                "git_conn_id": "git_dags",
                "refresh_interval": 300,
            },
        },
    ]
    # The connection the bundle names is in the same Secret: a public repository, no token.
    conn = json.loads(data["AIRFLOW_CONN_GIT_DAGS"])
    assert conn == {"conn_type": "git", "host": REPO}


def test_airflow_parses_the_bundle_list(helm, tmp_path):
    """Airflow 3.3's own reader of the option and its bundle model accept what the chart wrote
    (the GitDagBundle class itself comes with apache-airflow-providers-git in the image)."""
    data = connections(render(helm, *git_values(tmp_path, refreshInterval=60)))
    script = (
        "import json\n"
        "from airflow.configuration import conf\n"
        "from airflow.dag_processing.bundles.manager import _parse_bundle_config\n"
        "raw = conf.getjson('dag_processor', 'dag_bundle_config_list')\n"
        "parsed = _parse_bundle_config(raw)\n"
        "print(json.dumps([[b.name, b.classpath, b.kwargs] for b in parsed]))\n"
    )
    home = tmp_path / "airflow"
    home.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "AIRFLOW_HOME": str(home),
            BUNDLE_LIST: data[BUNDLE_LIST],
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (local, git) = json.loads(result.stdout.strip().splitlines()[-1])
    assert local[:2] == ["dags-folder", "airflow.dag_processing.bundles.local.LocalDagBundle"]
    assert git[1] == "airflow.providers.git.bundles.git.GitDagBundle"
    assert git[2]["git_conn_id"] == "git_dags" and git[2]["refresh_interval"] == 60


def test_the_image_dags_can_be_left_out(helm, tmp_path):
    path = tmp_path / "values.yaml"
    values = {"airflow": {"dagBundles": {"dagsFolder": False, "git": GIT}}}
    path.write_text(json.dumps(values))
    bundles = json.loads(connections(render(helm, "-f", str(path)))[BUNDLE_LIST])
    assert [b["name"] for b in bundles] == ["git-dags"]


def test_a_private_repository_token_comes_from_your_secret(helm, tmp_path):
    args = git_values(tmp_path, existingSecret="dag-repo", username="oauth2", connId="dags_repo")
    offline = connections(render(helm, *args))
    bundle = json.loads(offline[BUNDLE_LIST])[-1]
    assert bundle["kwargs"]["git_conn_id"] == "dags_repo"
    conn = json.loads(offline["AIRFLOW_CONN_DAGS_REPO"])
    assert conn["login"] == "oauth2" and "dag-repo" in conn["password"]  # offline placeholder
    # Against a cluster the Secret must exist...
    result = run_helm(helm, *args, "--api-versions", "ray.io/v1")
    assert result.returncode != 0
    assert 'Secret "dag-repo" (key "token") was not found' in result.stderr
    # ... and its token lands in the connection, and in no object but a Secret.
    token = "glpat-" + "x" * 30
    secret = {
        "metadata": {"name": "dag-repo"},
        "data": {"token": base64.b64encode(token.encode()).decode()},
    }
    docs = render_against(helm, tmp_path / "cluster", [secret], *args)
    conn = json.loads(connections(docs)["AIRFLOW_CONN_DAGS_REPO"])
    assert conn == {"conn_type": "git", "host": REPO, "login": "oauth2", "password": token}
    for doc in docs:
        if doc["kind"] != "Secret":
            assert token not in json.dumps(doc), f"{doc['kind']}/{doc['metadata']['name']}"


def test_no_token_in_any_values_file():
    for path in [*VALUES.glob("*.yaml"), VALUES.parent / "ray-platform" / "values.yaml"]:
        git = (load_yaml(path).get("airflow") or {}).get("dagBundles", {}).get("git", {})
        assert set(git) <= {
            "enabled",
            "name",
            "repoUrl",
            "trackingRef",
            "subdir",
            "refreshInterval",
            "connId",
            "username",
            "existingSecret",
        }, path.name


def test_the_airflow_values_pick_the_git_bundle_not_git_sync():
    """GitDagBundle (Airflow 3, versioned, no sidecar) instead of the chart's git-sync sidecar
    (Airflow 2's way, which charts/airflow-local refuses)."""
    assert load_yaml(VALUES / "airflow.yaml")["dags"]["gitSync"]["enabled"] is False


def test_every_airflow_component_loads_the_bundle_list():
    env_from = load_yaml(VALUES / "airflow.yaml")["extraEnvFrom"]
    assert CONNECTIONS in env_from
    # Neither Airflow chart sets the option itself, so the variable from the Secret is the one read.
    for name in ("airflow.yaml", "airflow-kind.yaml", "airflow-cloud.yaml"):
        config = load_yaml(VALUES / name).get("config") or {}
        assert "dag_bundle_config_list" not in config.get("dag_processor", {}), name
    local = load_yaml(VALUES.parent / "airflow-local" / "values.yaml")["config"]
    assert "dag_processor" not in local


# --- values that do not fit ---------------------------------------------------------------------


def test_a_git_bundle_needs_a_repository(helm):
    result = run_helm(helm, "--set", "airflow.dagBundles.git.enabled=true")
    assert result.returncode != 0
    assert "airflow.dagBundles.git.repoUrl is empty" in result.stderr


@pytest.mark.parametrize(
    ("git", "expected"),
    [
        (
            {"repoUrl": "https://user:ghp_secret@github.com/o/r.git"},
            "/airflow/dagBundles/git/repoUrl",
        ),
        ({"repoUrl": "ssh://github.com/o/r.git"}, "/airflow/dagBundles/git/repoUrl"),
        ({"name": "dags-folder"}, "/airflow/dagBundles/git/name"),
        ({"refreshInterval": -1}, "/airflow/dagBundles/git/refreshInterval"),
        ({"trackingRef": ""}, "/airflow/dagBundles/git/trackingRef"),
        ({"connId": "git-dags"}, "/airflow/dagBundles/git/connId"),
        ({"token": "ghp_x"}, "/airflow/dagBundles/git"),
    ],
)
def test_schema_rejects_a_wrong_git_value_with_its_path(helm, tmp_path, git, expected):
    result = run_helm(helm, *git_values(tmp_path, **git))
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert expected in result.stderr, result.stderr


def test_a_token_is_never_sent_over_plain_http(helm, tmp_path):
    url = "http://git-dags.airflow-ray.svc:8000/dags.git"
    public = connections(render(helm, *git_values(tmp_path, repoUrl=url)))
    assert json.loads(public["AIRFLOW_CONN_GIT_DAGS"]) == {"conn_type": "git", "host": url}
    result = run_helm(helm, *git_values(tmp_path, repoUrl=url, existingSecret="dag-repo"))
    assert result.returncode != 0
    assert "never sent unencrypted" in result.stderr
