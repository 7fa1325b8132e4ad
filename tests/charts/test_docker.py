"""The images: hadolint-clean, non-root, versions from uv.lock, a tight build context."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.charts.conftest import ROOT, load_yaml

DOCKER = ROOT / "docker"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
EXPORT = [
    "export",
    "--frozen",
    "--no-dev",
    "--no-hashes",
    "--no-emit-project",
    "--no-emit-workspace",
    "--format",
    "requirements.txt",
]


def tool(name: str) -> str:
    for candidate in (ROOT / ".venv" / "bin" / name, ROOT / ".tools" / "bin" / name):
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found in .venv/bin, .tools/bin or PATH: run `make setup`.")
    return found


def arg_defaults(dockerfile: Path) -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=\"?([^\"\s]*)\"?$", dockerfile.read_text(), re.M))


def pins(path: Path) -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", path.read_text(), re.M)
    return {name.lower(): version for name, version in found}


def test_both_images_exist():
    assert {p.name for p in DOCKERFILES} == {"airflow.Dockerfile", "ray.Dockerfile"}


# Every Dockerfile of the project: the internet path's and the air-gapped ones (docker/local).
ALL_DOCKERFILES = sorted(DOCKER.rglob("*.Dockerfile"))


@pytest.mark.parametrize("dockerfile", ALL_DOCKERFILES, ids=lambda p: str(p.relative_to(DOCKER)))
def test_hadolint_is_clean(dockerfile):
    result = subprocess.run(
        [tool("hadolint"), str(dockerfile)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_image_runs_as_a_numeric_non_root_user(dockerfile):
    users = re.findall(r"^USER (\S+)$", dockerfile.read_text(), re.M)
    assert users, "no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0, f"last USER is {users[-1]}"


def test_base_images_are_pinned_to_the_chart_and_lock_versions(lock):
    versions = load_yaml(ROOT / "charts" / "ray-platform" / "values.yaml")["versions"]
    ray = arg_defaults(DOCKER / "ray.Dockerfile")
    assert ray["RAY_VERSION"] == versions["ray"] == lock["ray"]
    assert ray["PYTHON_TAG"] == "py" + lock["python"].replace(".", "")
    assert (
        "FROM rayproject/ray:${RAY_VERSION}-${PYTHON_TAG}${VARIANT}"
        in (DOCKER / "ray.Dockerfile").read_text()
    )
    airflow = arg_defaults(DOCKER / "airflow.Dockerfile")
    assert airflow["AIRFLOW_VERSION"] == versions["airflow"] == lock["apache-airflow"]
    assert airflow["PYTHON_VERSION"] == versions["python"] == lock["python"]


def test_lock_export_is_current():
    """docker/requirements/lock.txt is `uv export` of uv.lock (rerun it after changing the lock)."""
    result = subprocess.run(
        [tool("uv"), *EXPORT], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr

    def body(text: str) -> list[str]:
        return [line for line in text.splitlines() if line and not line.lstrip().startswith("#")]

    committed = body((DOCKER / "requirements" / "lock.txt").read_text())
    assert committed == body(result.stdout), (
        "docker/requirements/lock.txt is stale: run "
        "`uv export " + " ".join(EXPORT[1:]) + " -o docker/requirements/lock.txt`"
    )


def test_pipeline_pins_reach_the_images(lock):
    exported = pins(DOCKER / "requirements" / "lock.txt")
    for name in ("ray", "xgboost", "xgboost-ray", "modin", "minio", "apache-airflow"):
        assert exported[name] == lock[name], name
    for image in ("ray.txt", "airflow.txt"):
        text = (DOCKER / "requirements" / image).read_text()
        names = re.findall(r"^([A-Za-z0-9_.-]+)", text, re.M)
        assert names
        unpinned = [n for n in names if n.lower() not in exported]
        assert not unpinned, f"{image}: {unpinned} are not in lock.txt, so pip would not pin them"


def test_build_context_sends_only_what_the_dockerfiles_use():
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[[line.strip() for line in ignore].index("*")] == "*", "not a whitelist"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    used = set()
    for dockerfile in DOCKERFILES:
        text = dockerfile.read_text()
        used |= set(re.findall(r"source=([\w/.-]+)", text))
        used |= {src.rstrip("/") for src in re.findall(r"^COPY (?:--\S+ )*(\S+) ", text, re.M)}
    assert used == allowed, f"used {sorted(used)}, allowed {sorted(allowed)}"
