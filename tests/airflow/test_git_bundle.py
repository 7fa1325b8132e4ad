"""DAGs from Git: a GitDagBundle's @task.ray callables and their helper modules reach Ray.

A local git repository (``tests/airflow/git_bundle/`` committed into a temp dir) is the only
DAG bundle of an Airflow stack of this module's own; its DAGs folder is empty. The DAG file and
its helper package therefore live only in the bundle's versioned checkout, which neither
``[core] dags_folder`` nor the Ray workers' ``sys.path`` contain: the run succeeds only if the
provider pickles the checkout's modules by value (tests/unit/test_payload.py shows the same
payload failing on a worker without that).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.airflow_stack import AirflowStack
from devstack.platform import LocalPlatform
from devstack.ray_head import RayHead

pytestmark = pytest.mark.airflow

SOURCE = Path(__file__).resolve().parent / "git_bundle"
BUNDLE = "git_dags"
DAG_ID = "git_bundle_ray"


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` with a throwaway identity (no global config is read or needed)."""
    result = subprocess.run(
        ["git", "-c", "user.name=tests", "-c", "user.email=tests@127.0.0.1", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {repo}: {result.stderr}")
    return result.stdout.strip()


def make_repository(repo: Path) -> str:
    """Commit the bundle's DAGs (``dags/``, as this project lays them out); returns the commit."""
    shutil.copytree(SOURCE, repo, ignore=shutil.ignore_patterns("__pycache__"))
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--message", "DAGs for the git bundle test")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def git_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    repo = tmp_path_factory.mktemp("git-bundle-repo") / "repo"
    return repo, make_repository(repo)


@pytest.fixture(scope="module")
def bundle_airflow(
    platform: LocalPlatform,
    ray_head: RayHead,
    git_bundle: tuple[Path, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AirflowStack]:
    """Airflow whose only DAG bundle is the repository, on the session's Ray head."""
    repo, _ = git_bundle
    home = tmp_path_factory.mktemp("git-bundle-airflow")
    empty_dags_folder = home / "dags"
    empty_dags_folder.mkdir()
    bundles = [
        {
            "name": BUNDLE,
            "classpath": "airflow.providers.git.bundles.git.GitDagBundle",
            "kwargs": {"repo_url": str(repo), "tracking_ref": "main", "subdir": "dags"},
        }
    ]
    stack = AirflowStack(
        home=home,
        dags_folder=empty_dags_folder,
        deployment_key=platform.deployment_key,
        extra_env={
            **platform.airflow_env(),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(home / "dag_bundles"),
        },
    )
    try:
        yield stack.start()
    finally:
        stack.stop()


def test_a_ray_task_from_a_git_bundle_runs_with_its_helper_package(bundle_airflow, git_bundle):
    _, commit = git_bundle
    run_id, state = bundle_airflow.run_and_wait(DAG_ID, timeout=300)
    assert state == "success", bundle_airflow.failure_report(DAG_ID, run_id)

    # The DAG came from the Git bundle, at the committed version.
    assert bundle_airflow.api("GET", f"/dags/{DAG_ID}")["bundle_name"] == BUNDLE
    assert bundle_airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")["bundle_version"] == (
        commit
    )
    checkout = bundle_airflow.home / "dag_bundles" / BUNDLE / "versions" / commit / "dags"
    assert (checkout / "git_bundle_helpers" / "scoring.py").is_file()

    # The value the helper package computed, handed to a plain @task through XCom.
    raw = bundle_airflow.xcom_raw(DAG_ID, run_id, "report")
    report = json.loads(raw) if isinstance(raw, str) else raw
    assert report["value"] == 42 and report["mark"] == "computed by git_bundle_helpers"

    # It ran on Ray: the provider's log lines and the callable's own stdout, from a Ray worker.
    log = bundle_airflow.task_log(DAG_ID, run_id, "compute")
    assert f"Submitted {DAG_ID}.compute to Ray at" in log, log
    assert "Ray task finished" in log, log
    assert f"scoring on the Ray worker, pid {report['ray_pid']}" in log, log
    tis = bundle_airflow.task_instances(DAG_ID, run_id)
    assert report["ray_pid"] != tis["compute"]["pid"]
