"""`make up` / `make down` stop before changing anything when a prerequisite is missing.

They run with a PATH holding only the basic tools plus stand-ins that log every call: a docker
whose engine is down ('docker info' fails), and helm and kubectl that would do nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.charts.conftest import ROOT

BASICS = ["bash", "sh", "make", "awk", "dirname", "basename", "grep", "cat", "env", "seq"]
ENGINE_DOWN = """#!/bin/sh
echo "docker $*" >> "$CALLS"
if [ "$1" = info ]; then
  echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2
  exit 1
fi
"""
LOGGED = '#!/bin/sh\necho "$(basename "$0") $*" >> "$CALLS"\n'


def make_bin(tmp_path: Path, *fakes: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in BASICS:
        real = shutil.which(name)
        assert real, f"{name} is needed to run make"
        (bin_dir / name).symlink_to(real)
    for name in fakes:
        script = bin_dir / name
        script.write_text(ENGINE_DOWN if name == "docker" else LOGGED)
        script.chmod(0o755)
    return bin_dir


def run_make(tmp_path: Path, target: str, bin_dir: Path, **env: str):
    calls = tmp_path / "calls.log"
    calls.write_text("")
    environment = {"PATH": str(bin_dir), "HOME": str(tmp_path), "CALLS": str(calls), **env}
    result = subprocess.run(
        [str(bin_dir / "make"), "--no-print-directory", "-C", str(ROOT), target],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result, calls.read_text().splitlines()


def test_engine_down_and_no_kind(tmp_path):
    bin_dir = make_bin(tmp_path, "docker", "helm", "kubectl")
    result, calls = run_make(tmp_path, "up", bin_dir, HELM=str(bin_dir / "helm"))
    assert result.returncode != 0
    assert "missing prerequisites, nothing was changed" in result.stderr
    assert "docker is installed but its engine is not running" in result.stderr
    assert "kind is not installed" in result.stderr
    assert "https://kind.sigs.k8s.io" in result.stderr
    assert "helm" not in result.stderr and "kubectl" not in result.stderr
    assert calls == ["docker info"], f"make up ran {calls}"


def test_minikube_is_checked_when_chosen(tmp_path):
    bin_dir = make_bin(tmp_path, "docker", "helm", "kubectl")
    result, calls = run_make(
        tmp_path, "up", bin_dir, CLUSTER="minikube", HELM=str(bin_dir / "helm")
    )
    assert result.returncode != 0
    assert "minikube is not installed" in result.stderr
    assert "kind is not installed" not in result.stderr
    assert calls == ["docker info"]


def test_every_missing_tool_is_listed_with_how_to_install_it(tmp_path):
    bin_dir = make_bin(tmp_path)
    result, calls = run_make(tmp_path, "up", bin_dir, HELM=str(tmp_path / "no-helm"))
    assert result.returncode != 0
    for line in (
        "docker is not installed: install Docker Engine",
        "kind is not installed",
        "helm is not installed: 'make tools'",
        "kubectl is not installed: see https://kubernetes.io/docs/tasks/tools/",
    ):
        assert line in result.stderr
    assert calls == []


def test_an_unknown_cluster_kind_is_refused(tmp_path):
    bin_dir = make_bin(tmp_path, "docker", "helm", "kubectl")
    result, calls = run_make(tmp_path, "up", bin_dir, CLUSTER="gke")
    assert result.returncode != 0
    assert "CLUSTER must be kind or minikube" in result.stderr
    assert "charts/README.md" in result.stderr
    assert calls == []


@pytest.mark.parametrize("target", ["down", "e2e"])
def test_down_and_e2e_need_the_cluster_tool(tmp_path, target):
    bin_dir = make_bin(tmp_path, "docker", "helm", "kubectl")
    result, calls = run_make(tmp_path, target, bin_dir)
    assert result.returncode != 0
    assert "kind is not installed" in result.stderr
    assert calls == []


def test_scripts_are_strict_bash():
    for script in sorted((ROOT / "charts" / "scripts").glob("*.sh")):
        text = script.read_text()
        if script.name != "lib.sh":
            assert text.startswith("#!/usr/bin/env bash\n"), script.name
            assert "set -euo pipefail" in text, script.name
            assert os.access(script, os.X_OK), f"{script.name} is not executable"
        syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert syntax.returncode == 0, syntax.stderr


# A working toolchain, faked: every call is logged, kind remembers its cluster in a file, and
# kubectl reports a ready Ray cluster, so `make up` runs its whole sequence in a second.
FAKE_KIND = """#!/bin/sh
echo "kind $*" >> "$CALLS"
case "$1 $2" in
  "get clusters") [ -f "$STATE/cluster" ] && echo ray-platform ;;
  "create cluster") touch "$STATE/cluster" ;;
  "delete cluster") rm -f "$STATE/cluster" ;;
esac
exit 0
"""
FAKE_KUBECTL = """#!/bin/sh
echo "kubectl $*" >> "$CALLS"
case "$*" in
  *"get raycluster"*) printf ready ;;
  *"get pods"*"ray-platform/image"*) printf 'head-1 \\nworker-1 \\n' ;;
  *"get pods"*"jsonpath"*) printf 'true\\ntrue\\n' ;;
  *"get pods"*) printf 'head\\nworker\\n' ;;
  *"get secret"*) printf 'c2VjcmV0LXB3' ;;
  *"dags list"*) echo higgs_xgboost ;;
  *"python -"*)
    script="$(cat)"
    case "$script" in
      *XComModel*) echo "{\\"auc\\": ${FAKE_AUC:-0.83}, \\"rounds\\": 3}" ;;
      *) echo "success evaluate=success report=success" ;;
    esac ;;
esac
exit 0
"""
WORKING = ["base64", "wc", "touch", "rm", "date"]


def working_bin(tmp_path: Path) -> Path:
    bin_dir = make_bin(tmp_path, "helm")
    for name in WORKING:
        (bin_dir / name).symlink_to(shutil.which(name))
    for name, text in {
        "docker": '#!/bin/sh\necho "docker $*" >> "$CALLS"\n',
        "kind": FAKE_KIND,
        "kubectl": FAKE_KUBECTL,
    }.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    (tmp_path / "state").mkdir()
    return bin_dir


def test_make_up_runs_every_step_in_order_and_again_without_recreating(tmp_path):
    bin_dir = working_bin(tmp_path)
    env = {"HELM": str(bin_dir / "helm"), "STATE": str(tmp_path / "state")}
    result, calls = run_make(tmp_path, "up", bin_dir, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    steps = [c for c in calls if not c.startswith("kubectl") and c != "docker info"]
    assert steps[0] == "kind get clusters"
    assert steps[1].startswith("kind create cluster --name ray-platform --config ")
    assert steps[1].endswith("kind-config.yaml --wait 120s")
    builds = [c for c in steps if c.startswith("docker build")]
    assert "-t ray-platform/ray:2.60.0-py311" in builds[0]
    assert "-t ray-platform/airflow:3.3.2-python3.11" in builds[1]
    loads = [c for c in steps if c.startswith("kind load")]
    assert len(loads) == 2
    installs = [c.split(" --install ")[1].split()[0:2] for c in steps if " --install " in c]
    assert installs == [
        ["kuberay-operator", "kuberay/kuberay-operator"],
        ["ray-platform", str(ROOT / "charts" / "ray-platform")],
        ["airflow", "apache-airflow/airflow"],
    ]
    helm_calls = [c for c in steps if " --install " in c]
    assert "--version 1.7.0" in helm_calls[0]
    assert "charts/values/kind.yaml" in helm_calls[1]
    assert "airflow.yaml" in helm_calls[2] and "airflow-kind.yaml" in helm_calls[2]
    assert all("--wait" in c for c in helm_calls)
    assert "http://localhost:8080" in result.stdout and "password secret-pw" in result.stdout
    # The plain migration/user Jobs are removed before Airflow's upgrade (their pod template is
    # immutable: an upgrade with changed values would fail).
    delete = next(i for i, c in enumerate(calls) if " delete job " in c)
    assert "component in (run-airflow-migrations,create-user-job)" in calls[delete]
    assert delete < next(i for i, c in enumerate(calls) if "--install airflow " in c)
    assert "make e2e" in result.stdout

    again, calls = run_make(tmp_path, "up", bin_dir, **env)
    assert again.returncode == 0
    assert "exists: reusing it" in again.stdout
    assert not [c for c in calls if c.startswith("kind create")]


def test_a_rebuilt_image_replaces_the_pods_that_run_its_earlier_build(tmp_path):
    """Tags stay the same from build to build: pods carry the image ID, stale Ray pods go."""
    bin_dir = working_bin(tmp_path)
    (bin_dir / "docker").write_text(
        '#!/bin/sh\necho "docker $*" >> "$CALLS"\n'
        'case "$*" in *"image inspect"*) echo sha256:0123456789abcdef0123456789abcdef99 ;; esac\n'
    )
    env = {"HELM": str(bin_dir / "helm"), "STATE": str(tmp_path / "state")}
    result, calls = run_make(tmp_path, "up", bin_dir, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    image_id = "0123456789abcdef0123456789abcdef"
    helm = {c.split(" --install ")[1].split()[0]: c for c in calls if " --install " in c}
    assert f"--set-string ray.podAnnotations.ray-platform/image={image_id}" in helm["ray-platform"]
    assert f"--set-string airflowPodAnnotations.ray-platform/image={image_id}" in helm["airflow"]
    # The stand-in lists two Ray pods without the annotation: both are stale.
    [delete] = [c for c in calls if " delete pod " in c]
    assert delete.endswith("delete pod head-1 worker-1 --wait=false")
    assert "replacing Ray pods that run an earlier build" in result.stdout


def test_make_down_deletes_the_cluster_once(tmp_path):
    bin_dir = working_bin(tmp_path)
    env = {"STATE": str(tmp_path / "state")}
    (tmp_path / "state" / "cluster").touch()
    result, calls = run_make(tmp_path, "down", bin_dir, **env)
    assert result.returncode == 0, result.stderr
    assert "kind delete cluster --name ray-platform" in calls
    again, calls = run_make(tmp_path, "down", bin_dir, **env)
    assert again.returncode == 0 and "nothing to remove" in again.stdout
    assert not [c for c in calls if "delete" in c]


def test_make_e2e_triggers_higgs_and_follows_it_to_success(tmp_path):
    bin_dir = working_bin(tmp_path)
    (tmp_path / "state" / "cluster").touch()
    env = {"STATE": str(tmp_path / "state"), "ROWS": "5000", "ROUNDS": "3", "E2E_CHECKS": "higgs"}
    result, calls = run_make(tmp_path, "e2e", bin_dir, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test AUC 0.83 > 0.7" in result.stdout
    airflow = [c.split(" -- ", 1)[1] for c in calls if " exec " in c]
    assert airflow[0].startswith("airflow dags list")
    assert airflow[1] == "airflow dags unpause higgs_xgboost"
    trigger = airflow[2]
    assert trigger.startswith("airflow dags trigger higgs_xgboost --run-id e2e__")
    assert '"rows": 5000, "rounds": 3, "num_actors": 2' in trigger
    assert all(
        "--context kind-ray-platform -n airflow-ray exec" in c for c in calls if " exec " in c
    )
    assert "success in" in result.stdout


def test_make_e2e_fails_when_the_model_has_not_learnt(tmp_path):
    bin_dir = working_bin(tmp_path)
    (tmp_path / "state" / "cluster").touch()
    env = {"STATE": str(tmp_path / "state"), "E2E_CHECKS": "higgs", "FAKE_AUC": "0.55"}
    result, _ = run_make(tmp_path, "e2e", bin_dir, **env)
    assert result.returncode != 0
    assert "test AUC 0.55 is not above 0.7" in result.stderr


def test_make_e2e_refuses_an_unknown_check(tmp_path):
    bin_dir = working_bin(tmp_path)
    (tmp_path / "state" / "cluster").touch()
    env = {"STATE": str(tmp_path / "state"), "E2E_CHECKS": "higgs speed"}
    result, _ = run_make(tmp_path, "e2e", bin_dir, **env)
    assert result.returncode != 0
    assert "unknown E2E_CHECKS entry 'speed'" in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"IMAGES": "local", "CLUSTER": "minikube"},
            "IMAGES=local builds a kind node image: use CLUSTER=kind",
        ),
        ({"IMAGES": "mirror"}, "IMAGES must be upstream or local (got 'mirror')"),
    ],
)
def test_a_wrong_images_mode_is_refused_before_anything_runs(tmp_path, env, message):
    bin_dir = make_bin(tmp_path, "docker", "helm", "kubectl")
    result, calls = run_make(tmp_path, "up", bin_dir, **env)
    assert result.returncode != 0
    assert message in result.stderr
    assert calls == []


def test_images_local_names_its_build_tools_when_missing(tmp_path):
    bin_dir = make_bin(tmp_path, "docker", "helm", "kubectl")
    result, calls = run_make(
        tmp_path, "up", bin_dir, IMAGES="local", HELM=str(bin_dir / "helm"), GO="/nonexistent"
    )
    assert result.returncode != 0
    assert "gcc is not installed: IMAGES=local compiles the pod sandbox" in result.stderr
    assert "nothing was changed" in result.stderr
    assert calls == ["docker info"]
