"""The provider as a user gets it: built into an sdist and a wheel, installed into a clean
virtual environment that has Airflow and Ray only, and found there by Airflow itself.

Installs pin every package to ``uv.lock`` (an exported constraints file), so uv's cache
serves them and the clean environment runs the versions the rest of the suite tests. Takes
about 25 s here (2 cores, warm cache).
"""

from __future__ import annotations

import email.parser
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import ray_provider

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PROVIDER = ROOT / "provider"
DISTRIBUTION = "ray-taskflow-provider"
STEM = f"ray_taskflow_provider-{ray_provider.__version__}"
EXAMPLE_DAGS = {
    "example_ray_handoff",
    "example_ray_checkpoint",
    "example_ray_job",
    "example_ray_per_run_cluster",
}


def _uv() -> str:
    """uv as the Makefile finds it: on PATH, or the copy ``make setup`` puts in .tools/."""
    found = shutil.which("uv") or ROOT / ".tools" / "bin" / "uv"
    if not Path(found).exists():
        pytest.fail("uv not found on PATH or in .tools/bin: run `make setup` first.")
    return str(found)


def _run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 300) -> str:
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} failed ({result.returncode}):\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout


@dataclass(frozen=True)
class Built:
    work: Path
    sdist: Path
    wheel: Path
    env: dict[str, str]


def _clean_env(work: Path) -> dict[str, str]:
    """This machine's environment (network, certificates, uv cache) without anything of the
    test session's Python or Airflow (home, DAG folder, deployment key, virtualenv)."""
    dropped = ("AIRFLOW", "RAY_", "PYTHON", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    env = {name: value for name, value in os.environ.items() if not name.startswith(dropped)}
    env.update(
        UV_PYTHON_DOWNLOADS="never",
        AIRFLOW_HOME=str(work / "airflow_home"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        RAY_USAGE_STATS_ENABLED="0",
    )
    return env


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    work = tmp_path_factory.mktemp("distribution")
    env = _clean_env(work)
    dist = work / "dist"
    # uv builds the sdist, then the wheel from the unpacked sdist: the wheel proves the sdist
    # holds everything a rebuild needs.
    _run([_uv(), "build", str(PROVIDER), "--out-dir", str(dist)], env, ROOT)
    return Built(work, dist / f"{STEM}.tar.gz", dist / f"{STEM}-py3-none-any.whl", env)


def _install(built: Built, name: str, artifact: Path) -> Path:
    """A new venv (this machine's Python, no download) with ``artifact`` and its dependencies."""
    venv = built.work / name
    constraints = built.work / "constraints.txt"
    if not constraints.exists():
        _run(
            [
                _uv(),
                "export",
                "--frozen",
                "--no-dev",
                "--no-emit-workspace",
                "--no-hashes",
                "--quiet",
                "-o",
                str(constraints),
            ],
            built.env,
            ROOT,
        )
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    _run([_uv(), "venv", "--python", python, str(venv)], built.env, built.work)
    _run(
        [
            _uv(),
            "pip",
            "install",
            "--python",
            str(venv / "bin" / "python"),
            "-c",
            str(constraints),
            str(artifact),
        ],
        built.env,
        built.work,
    )
    return venv


@pytest.fixture(scope="module")
def wheel_venv(built) -> Iterator[Path]:
    yield _install(built, "venv_wheel", built.wheel)


def _wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _sdist_names(sdist: Path) -> set[str]:
    with tarfile.open(sdist) as archive:
        return {name.removeprefix(f"{STEM}/") for name in archive.getnames()}


def test_wheel_carries_package_examples_license_and_metadata(built):
    names = _wheel_names(built.wheel)
    for dag in EXAMPLE_DAGS:
        assert f"ray_provider/example_dags/{dag}.py" in names
    assert f"{STEM}.dist-info/licenses/LICENSE" in names
    assert not [name for name in names if name.startswith(("tests/", "devstack/", "bench/"))]
    with zipfile.ZipFile(built.wheel) as archive:
        metadata = email.parser.Parser().parsestr(
            archive.read(f"{STEM}.dist-info/METADATA").decode()
        )
        entry_points = archive.read(f"{STEM}.dist-info/entry_points.txt").decode()
    assert metadata["Name"] == DISTRIBUTION
    assert metadata["Version"] == ray_provider.__version__
    assert metadata["License-Expression"] == "Apache-2.0"
    assert "Framework :: Apache Airflow :: Provider" in metadata.get_all("Classifier")
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL"))
    assert {"Homepage", "Source", "Changelog"} <= set(urls)
    # The long description is the provider's README (what PyPI shows).
    assert "@task.ray" in metadata.get_payload()
    assert "ray_provider.get_provider_info:get_provider_info" in entry_points
    assert "ray_provider.plugins:RayProviderPlugin" in entry_points


def test_sdist_holds_what_a_rebuild_needs_and_the_same_package(built):
    names = _sdist_names(built.sdist)
    assert {"LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml", "PKG-INFO"} <= names
    assert not [name for name in names if name.startswith(("tests/", "devstack/", "bench/"))]
    sources = {
        name.removeprefix("src/")
        for name in names
        if name.startswith("src/ray_provider/") and name.endswith(".py")
    }
    in_wheel = {name for name in _wheel_names(built.wheel) if name.startswith("ray_provider/")}
    assert sources == in_wheel
    changelog = (PROVIDER / "CHANGELOG.md").read_text()
    assert f"## {ray_provider.__version__}" in changelog


def test_airflow_lists_the_installed_provider_and_its_connection_type(built, wheel_venv):
    airflow = str(wheel_venv / "bin" / "airflow")
    providers = json.loads(
        _json_part(_run([airflow, "providers", "list", "-o", "json"], built.env, built.work))
    )
    ours = [p for p in providers if p["package_name"] == DISTRIBUTION]
    assert ours and ours[0]["version"] == ray_provider.__version__, providers
    hooks = json.loads(
        _json_part(_run([airflow, "providers", "hooks", "-o", "json"], built.env, built.work))
    )
    [ray] = [h for h in hooks if h["connection_type"] == "ray"]
    assert ray["class"] == "ray_provider.hooks.ray.RayHook"
    assert ray["package_name"] == DISTRIBUTION


CHECK_IN_VENV = """
import json, os, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.providers_manager import ProvidersManager
from airflow.sdk import task

import ray_provider.example_dags as examples

bag = DagBag(dag_folder=os.path.dirname(examples.__file__))
manager = ProvidersManager()
print(json.dumps({
    "task_ray": getattr(task.ray, "__module__", None),
    "decorators": sorted(manager.taskflow_decorators),
    "dags": sorted(bag.dag_ids),
    "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
    "operators": sorted({type(t).__name__ for d in bag.dags.values() for t in d.tasks}),
    "form": manager._field_behaviours_from_metadata.get("ray"),
    "prefix": sys.prefix,
}))
"""


def test_task_ray_resolves_and_the_example_dags_parse_in_the_clean_venv(built, wheel_venv):
    python = str(wheel_venv / "bin" / "python")
    report = json.loads(
        _run([python, "-c", CHECK_IN_VENV], built.env, built.work).strip().splitlines()[-1]
    )
    assert Path(report["prefix"]) == wheel_venv  # not this test session's environment
    assert "ray" in report["decorators"]
    assert report["task_ray"] == "ray_provider.decorators.ray"
    assert report["import_errors"] == {}
    assert set(report["dags"]) == EXAMPLE_DAGS
    assert {"RayDecoratedOperator", "RaySubmitJobOperator"} <= set(report["operators"])
    assert report["form"]["relabeling"]["host"] == "Ray address"


def test_the_sdist_installs_the_same_files_as_the_wheel(built, wheel_venv):
    sdist_venv = _install(built, "venv_sdist", built.sdist)

    def installed(venv: Path) -> list[str]:
        code = (
            "import importlib.metadata as m, json; "
            f"d = m.distribution({DISTRIBUTION!r}); "
            "print(json.dumps([d.version, sorted(str(f) for f in d.files "
            "if str(f).startswith('ray_provider/') and not str(f).endswith('.pyc'))]))"
        )
        return json.loads(_run([str(venv / "bin" / "python"), "-c", code], built.env, built.work))

    from_sdist, from_wheel = installed(sdist_venv), installed(wheel_venv)
    assert from_sdist[0] == ray_provider.__version__
    assert from_sdist == from_wheel


def _json_part(output: str) -> str:
    """Airflow may log a line before the JSON; the document starts at the first bracket."""
    return output[output.index("[") :]
