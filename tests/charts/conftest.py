"""Render the chart with helm, once per profile, and read the files it is checked against.

No cluster and no Docker engine: helm renders offline (``helm template``), and the manifests are
read as YAML. helm comes from ``make tools`` (``.tools/bin/helm``) or PATH.
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "ray-platform"
VALUES = ROOT / "charts" / "values"
UPSTREAM = Path(__file__).resolve().parent / "upstream"
RELEASE = "ray-platform"
NAMESPACE = "airflow-ray"
# "default" is the chart's values.yaml alone; the others add charts/values/<profile>.yaml.
PROFILES = ["default", "kind", "gke", "eks", "aks"]
GPU_PROFILES = ["gke", "eks", "aks"]


def find_helm() -> str | None:
    local = ROOT / ".tools" / "bin" / "helm"
    return str(local) if local.exists() else shutil.which("helm")


@pytest.fixture(scope="session")
def helm() -> str:
    path = find_helm()
    if path is None:
        pytest.fail(
            "helm not found in .tools/bin or on PATH: run `make tools` (it builds helm v3.22.0 "
            "with Go) or install helm, then rerun."
        )
    return path


def profile_args(profile: str) -> list[str]:
    return [] if profile == "default" else ["-f", str(VALUES / f"{profile}.yaml")]


def run_helm(helm: str, *args: str, chart: Path = CHART) -> subprocess.CompletedProcess:
    """``helm template`` of the chart (or any helm command when args start with a verb)."""
    cmd = [helm, "template", RELEASE, str(chart), "--namespace", NAMESPACE, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def lint(helm: str, chart: Path, *args: str) -> subprocess.CompletedProcess:
    """``helm lint --strict`` of a chart with extra arguments (values files)."""
    cmd = [helm, "lint", "--strict", str(chart), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def render(helm: str, *args: str, chart: Path = CHART) -> list[dict]:
    result = run_helm(helm, *args, chart=chart)
    assert result.returncode == 0, f"helm template {' '.join(args)} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="session")
def rendered(helm: str) -> dict[str, list[dict]]:
    """Every profile's manifests, rendered once for the whole session."""
    return {profile: render(helm, *profile_args(profile)) for profile in PROFILES}


def load_yaml(path: Path):
    with path.open() as f:
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@pytest.fixture(scope="session")
def lock() -> dict[str, str]:
    """Package versions pinned by uv.lock, plus its Python minor version under "python"."""
    data = tomllib.loads((ROOT / "uv.lock").read_text())
    versions = {pkg["name"]: pkg["version"] for pkg in data["package"] if "version" in pkg}
    python = data["requires-python"].strip("=<>~ ").removesuffix(".*")
    versions["python"] = ".".join(python.split(".")[:2])
    return versions


@pytest.fixture(scope="session")
def chart_values() -> dict:
    return load_yaml(CHART / "values.yaml")


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in of_kind(docs, kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_specs(doc: dict) -> list[tuple[str, dict]]:
    """(where, pod spec) for every pod a manifest creates, RayCluster groups included."""
    kind, name = doc["kind"], doc["metadata"]["name"]
    if kind == "Pod":
        return [(f"Pod/{name}", doc["spec"])]
    if kind in ("Deployment", "StatefulSet", "Job", "DaemonSet"):
        return [(f"{kind}/{name}", doc["spec"]["template"]["spec"])]
    if kind == "RayCluster":
        spec = doc["spec"]
        found = [(f"RayCluster/{name}/head", spec["headGroupSpec"]["template"]["spec"])]
        for group in spec.get("workerGroupSpecs") or []:
            found.append((f"RayCluster/{name}/{group['groupName']}", group["template"]["spec"]))
        return found
    return []


def containers(spec: dict) -> list[dict]:
    return list(spec.get("initContainers") or []) + list(spec["containers"])
