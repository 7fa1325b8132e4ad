"""The local images (docker/local): built from Debian and PyPI without a container registry.

Offline and without a Docker engine: the Dockerfiles and scripts are read as text and checked
against what the chart, the Airflow values and uv.lock say.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.charts.conftest import CHART, ROOT, UPSTREAM, VALUES, load_yaml
from tests.charts.test_docker import arg_defaults

LOCAL = ROOT / "docker" / "local"
# The application images (app-images.sh); the cluster's own images are node-image.sh's and
# build.sh's.
DOCKERFILES = [
    LOCAL / name
    for name in ("airflow.Dockerfile", "minio.Dockerfile", "postgres.Dockerfile", "ray.Dockerfile")
]
APP_IMAGES = LOCAL / "app-images.sh"
ENTRYPOINT = LOCAL / "files" / "postgres-entrypoint.sh"
# Dockerfiles whose build context is the repository root (the others get a directory of their
# own from app-images.sh, holding the files they COPY).
ROOT_CONTEXT = {"ray.Dockerfile", "airflow.Dockerfile"}
# What app-images.sh puts into the context of the others.
OWN_CONTEXT = {
    "postgres.Dockerfile": {"postgres-entrypoint.sh"},
    "minio.Dockerfile": {"minio", "mc"},
}


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) of each instruction, continuation lines joined, comments dropped."""
    result, pending = [], ""
    for line in dockerfile.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, rest = (pending + stripped).partition(" ")
        result.append((keyword.upper(), rest.strip()))
        pending = ""
    return result


def stages(dockerfile: Path) -> dict[str, list[tuple[str, str]]]:
    """The instructions of each build stage, by stage name (the last one also as "")."""
    found: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for keyword, rest in instructions(dockerfile):
        if keyword == "FROM":
            current = []
            match = re.search(r"\bAS\s+(\S+)$", rest, re.I)
            found[match.group(1) if match else f"stage{len(found)}"] = current
        if current is not None:
            current.append((keyword, rest))
    found[""] = current or []
    return found


def final_user(steps: list[tuple[str, str]]) -> str:
    users = [rest for keyword, rest in steps if keyword == "USER"]
    assert users, "no USER"
    return users[-1]


def useradd(dockerfile: Path, name: str) -> tuple[int, int]:
    """uid and gid of `useradd ... NAME` in the Dockerfile."""
    for keyword, rest in instructions(dockerfile):
        for command in re.findall(r"useradd ([^&;]*)", rest) if keyword == "RUN" else []:
            if command.split()[-1] == name:
                uid = re.search(r"--uid (\d+)", command)
                gid = re.search(r"--gid (\d+)", command)
                assert uid and gid, command
                return int(uid.group(1)), int(gid.group(1))
    pytest.fail(f"{dockerfile.name}: no useradd of {name}")


def runs_of(dockerfile: Path) -> list[str]:
    return [rest for keyword, rest in instructions(dockerfile) if keyword == "RUN"]


def shell_default(script: Path, name: str) -> str:
    match = re.search(rf'^{name}="\$\{{{name}:-([^}}]*)\}}"', script.read_text(), re.M)
    assert match, f"{script.name}: no default for {name}"
    return match.group(1)


@pytest.fixture(scope="module")
def listed() -> dict[str, str]:
    """`app-images.sh --list`: image name -> repository:tag (reads files, runs no docker)."""
    result = subprocess.run(
        ["bash", str(APP_IMAGES), "--list"], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    return dict(line.split(" ", 1) for line in result.stdout.splitlines())


@pytest.fixture(scope="module")
def chart_values() -> dict:
    return load_yaml(CHART / "values.yaml")


def test_every_application_image_has_a_dockerfile():
    assert all(p.exists() for p in DOCKERFILES)
    text = APP_IMAGES.read_text()
    assert all(f'"$HERE/{p.name}"' in text for p in DOCKERFILES)


# hadolint: tests/charts/test_docker.py lints every Dockerfile, these included.


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_image_starts_from_the_debootstrap_base(dockerfile):
    steps = instructions(dockerfile)
    suite = shell_default(LOCAL / "versions.sh", "DEBIAN_SUITE")
    assert 'IMAGE="ray-platform/debian:$DEBIAN_SUITE"' in (LOCAL / "base-image.sh").read_text()
    assert steps[0] == ("ARG", f"BASE_IMAGE=ray-platform/debian:{suite}")
    froms = [rest for keyword, rest in steps if keyword == "FROM"]
    assert froms[0].split()[0] == "${BASE_IMAGE}"
    # Later stages start from an earlier one, never from a registry.
    named = [m.group(1) for f in froms if (m := re.search(r"\bAS\s+(\S+)$", f, re.I))]
    assert all(f.split()[0] in {"${BASE_IMAGE}", *named} for f in froms), froms


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_apt_leaves_no_lists_or_caches_in_a_layer(dockerfile):
    """The debootstrap base has no docker-clean hook, so each apt step cleans up after itself."""
    apt = [run for run in runs_of(dockerfile) if "apt-get install" in run]
    assert apt, "no apt-get install"
    for run in apt:
        assert run.index("apt-get update") < run.index("apt-get install")
        assert "--no-install-recommends" in run
        tail = run[run.rindex("apt-get install") :]
        assert "apt-get clean" in tail
        assert "rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin" in tail


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_no_syntax_directive_that_would_pull_a_frontend(dockerfile):
    """`# syntax=` pulls docker/dockerfile from a registry; the built-in frontend suffices."""
    assert not re.search(r"^#\s*syntax\s*=", dockerfile.read_text(), re.M | re.I)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_no_ca_or_certificate_lands_in_a_layer(dockerfile):
    cert = re.compile(r"\.(crt|pem|cer|key)\b|cert|ca[-_]?bundle|/etc/ssl", re.I)
    for keyword, rest in instructions(dockerfile):
        if keyword in {"COPY", "ADD"}:
            assert not cert.search(rest), f"{keyword} {rest}"
        if keyword == "ENV":
            assert not re.search(r"PIP_CERT|REQUESTS_CA_BUNDLE|SSL_CERT", rest), rest
        if keyword == "RUN":
            # The bundle is read where BuildKit mounts the secret, never copied elsewhere.
            assert not re.search(r"(cp|mv|cat|install)\s+\S*/run/secrets", rest), rest


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_pip_trusts_the_ca_secret_only_when_it_is_given(dockerfile):
    pip_runs = [run for run in runs_of(dockerfile) if re.search(r"\bpip install\b", run)]
    if dockerfile.name in ROOT_CONTEXT:
        assert len(pip_runs) == 2, "Python packages, then the provider"
    for run in pip_runs:
        assert re.search(r"--mount=type=secret,id=ca_bundle\b", run), run
        assert (
            "if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi"
            in run
        )
        assert "--no-cache-dir" in run
        assert not re.search(r"required(=true)?\b", run), "the secret must stay optional"


def test_app_images_builds_with_buildkit_and_passes_the_ca_bundle_as_a_secret():
    text = APP_IMAGES.read_text()
    # RUN --mount and --secret need BuildKit: docker-cli.sh's build_image picks a CLI that has it.
    assert 'source "$HERE/docker-cli.sh"' in text
    assert re.search(r"^\s*if ! build_image ", text, re.M)
    assert not re.search(r"^\s*docker (buildx )?build ", text, re.M)
    assert 'CA_BUNDLE="${EXTRA_CA_BUNDLE:-}"' in text
    assert "/etc/ssl/certs/ca-certificates.crt" in text
    assert '--secret "id=ca_bundle,src=$CA_BUNDLE"' in text
    # Never through a build argument (those are recorded in the image's history).
    assert not re.search(r"--build-arg \S*(CA|CERT)", text, re.I)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_image_ends_as_a_numeric_non_root_user(dockerfile):
    for name, steps in stages(dockerfile).items():
        if name == "base" or not steps:
            continue
        user = final_user(steps)
        assert re.fullmatch(r"\d+(:\d+)?", user), f"{name}: USER {user}"
        assert int(user.split(":")[0]) > 0, f"{name}: USER {user}"


def test_ray_image_user_is_the_charts_pod_user(chart_values):
    pod = chart_values["podSecurityContext"]
    dockerfile = LOCAL / "ray.Dockerfile"
    assert final_user(instructions(dockerfile)) == f"{pod['runAsUser']}:{pod['runAsGroup']}"
    assert useradd(dockerfile, "ray") == (pod["runAsUser"], pod["runAsGroup"]) == (1000, 100)
    assert "--home-dir /home/ray" in dockerfile.read_text()


def test_airflow_image_user_is_the_airflow_values_pod_user():
    pod = load_yaml(VALUES / "airflow.yaml")["securityContexts"]["pod"]
    dockerfile = LOCAL / "airflow.Dockerfile"
    assert final_user(instructions(dockerfile)) == str(pod["runAsUser"])
    assert useradd(dockerfile, "airflow") == (pod["runAsUser"], pod["runAsGroup"]) == (50000, 0)
    assert "AIRFLOW_HOME=/opt/airflow" in dockerfile.read_text()


def test_postgres_user_is_made_before_the_packages_with_the_statefulsets_ids():
    template = (CHART / "templates" / "postgres-statefulset.yaml").read_text()
    uid = int(re.search(r"runAsUser: (\d+)", template).group(1))
    gid = int(re.search(r"runAsGroup: (\d+)", template).group(1))
    dockerfile = LOCAL / "postgres.Dockerfile"
    assert useradd(dockerfile, "postgres") == (uid, gid) == (70, 70)
    assert final_user(instructions(dockerfile)) == f"{uid}:{gid}"
    text = " ".join(runs_of(dockerfile))
    assert f"groupadd --system --gid {gid} postgres" in text
    assert text.index("useradd") < text.index("apt-get install")
    # The package makes no cluster of its own: the entrypoint makes one in PGDATA.
    assert text.index("create_main_cluster") < text.index('"postgresql-${PG_MAJOR}"')


def test_postgres_image_fits_the_statefulset():
    template = (CHART / "templates" / "postgres-statefulset.yaml").read_text()
    text = (LOCAL / "postgres.Dockerfile").read_text()
    # pg_isready (the probes) and the server on PATH; the socket directory the chart mounts.
    assert "PATH=/usr/lib/postgresql/${PG_MAJOR}/bin:" in text
    assert "pg_isready" in template
    assert "mountPath: /var/run/postgresql" in template
    assert "/var/run/postgresql" in text
    pgdata = re.search(r"name: PGDATA\s+value: (\S+)", template).group(1)
    data = re.search(r"^VOLUME (\S+)$", text, re.M).group(1)
    assert f"mountPath: {data}" in template
    assert pgdata.startswith(data + "/"), "PGDATA must lie in the volume"
    for env in ("POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD", "PGDATA"):
        assert f"name: {env}" in template
        assert env in ENTRYPOINT.read_text()
    assert re.search(r'^ENTRYPOINT \["/usr/local/bin/postgres-entrypoint.sh"\]$', text, re.M)


def test_postgres_entrypoint_initializes_with_passwords_and_then_runs_postgres():
    text = ENTRYPOINT.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert os.access(ENTRYPOINT, os.X_OK), "not executable (git keeps the mode)"
    assert "set -Eeuo pipefail" in text
    assert "--auth-host=scram-sha-256" in text
    assert "--pwfile=" in text
    assert "listen_addresses = '*'" in text
    assert re.search(r'-s "\$PGDATA/PG_VERSION"', text), "an existing PGDATA is kept"
    assert text.rstrip().endswith('exec "$@"'), "postgres runs in the foreground as PID 1"
    # Never prints the password.
    assert not re.search(r"(echo|log)[^\n]*POSTGRES_PASSWORD\b[^\n]*\$", text)


@pytest.mark.parametrize("script", [APP_IMAGES, ENTRYPOINT], ids=lambda p: p.name)
def test_scripts_are_strict_executable_bash(script):
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert re.search(r"^set -E?euo pipefail$", text, re.M)
    assert os.access(script, os.X_OK), f"{script.name} is not executable"
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr


def test_ray_and_airflow_tags_are_what_the_chart_and_airflow_values_use(listed, chart_values):
    versions = chart_values["versions"]
    cpu_tag = (
        chart_values["image"]["tag"] or f"{versions['ray']}-py{versions['python'].replace('.', '')}"
    )
    assert listed["ray"] == f"{chart_values['image']['repository']}:{cpu_tag}"
    assert listed["ray"] == "ray-platform/ray:2.60.0-py311"
    airflow = load_yaml(VALUES / "airflow.yaml")
    image = airflow["images"]["airflow"]
    assert listed["airflow"] == f"{image['repository']}:{image['tag']}"
    assert (
        listed["airflow"] == f"{airflow['defaultAirflowRepository']}:{airflow['defaultAirflowTag']}"
    )
    assert (
        listed["airflow"]
        == f"ray-platform/airflow:{versions['airflow']}-python{versions['python']}"
    )


def test_store_and_postgres_tags_are_what_the_local_values_use(listed):
    """charts/values/local-images.yaml points the chart at the images app-images.sh builds."""
    local = load_yaml(VALUES / "local-images.yaml")
    for name, image in (
        ("minio", local["store"]["minio"]["image"]),
        ("mc", local["store"]["bucketJob"]["image"]),
        ("postgres", local["postgres"]["image"]),
    ):
        assert listed[name] == f"{image['repository']}:{image['tag']}", name
        assert re.fullmatch(r"\w[\w.-]{0,127}", str(image["tag"])), f"{name}: not a valid tag"
    for name, var in (("minio", "MINIO_VERSION"), ("mc", "MC_VERSION")):
        assert listed[name] == f"ray-platform/{name}:{shell_default(LOCAL / 'versions.sh', var)}"
    # The Postgres tag is the major version the Dockerfile installs.
    pg_major = arg_defaults(LOCAL / "postgres.Dockerfile")["PG_MAJOR"]
    assert listed["postgres"] == f"ray-platform/postgres:{pg_major}"
    assert set(listed) == {"ray", "airflow", "postgres", "minio", "mc"}


def test_dockerfile_versions_are_the_charts_and_the_locks(lock, chart_values):
    versions = chart_values["versions"]
    ray = arg_defaults(LOCAL / "ray.Dockerfile")
    assert ray["RAY_VERSION"] == versions["ray"] == lock["ray"]
    assert ray["PYTHON_VERSION"] == versions["python"] == lock["python"]
    airflow = arg_defaults(LOCAL / "airflow.Dockerfile")
    assert airflow["AIRFLOW_VERSION"] == versions["airflow"] == lock["apache-airflow"]
    assert airflow["PYTHON_VERSION"] == versions["python"]
    # Debian's python3 must be the project's Python: the build asserts it.
    for dockerfile in (LOCAL / "ray.Dockerfile", LOCAL / "airflow.Dockerfile"):
        assert "assert v == '${PYTHON_VERSION}'" in dockerfile.read_text()


def test_python_images_install_what_the_internet_path_does():
    ray = " ".join(runs_of(LOCAL / "ray.Dockerfile"))
    assert '"ray[default]==${RAY_VERSION}"' in ray
    assert "-r /tmp/requirements/ray.txt -c /tmp/requirements/lock.txt" in ray
    assert "pip install --no-cache-dir --no-deps /tmp/provider" in ray
    airflow = " ".join(runs_of(LOCAL / "airflow.Dockerfile"))
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in airflow
    assert "-r /tmp/requirements/airflow.txt -c /tmp/requirements/lock.txt" in airflow
    assert "pip install --no-cache-dir /tmp/provider -c /tmp/requirements/lock.txt" in airflow
    copies = [rest for k, rest in instructions(LOCAL / "airflow.Dockerfile") if k == "COPY"]
    assert "--chown=50000:0 dags/ /opt/airflow/dags/" in copies


def test_every_extra_pin_of_the_airflow_image_is_pinned():
    """Packages beyond lock.txt are pinned in the Dockerfile (until uv.lock has them)."""
    dockerfile = LOCAL / "airflow.Dockerfile"
    defaults = arg_defaults(dockerfile)
    extras = re.findall(r'"([A-Za-z0-9_.\[\]-]+)==\$\{(\w+)\}"', " ".join(runs_of(dockerfile)))
    assert {name for name, _ in extras} >= {
        "apache-airflow-providers-fab",
        "apache-airflow-providers-postgres",
        "psycopg[binary]",
        "psycopg2-binary",
        "asyncpg",
    }
    for name, arg in extras:
        assert re.fullmatch(r"\d+(\.\d+)+", defaults.get(arg, "")), f"{name}: ARG {arg} unpinned"


def test_airflow_image_has_what_the_airflow_chart_runs():
    upstream = load_yaml(UPSTREAM / "airflow-chart-values.yaml")
    text = (LOCAL / "airflow.Dockerfile").read_text()
    # The log-groomer sidecars run /clean-logs; the liveness probes exec /entrypoint.
    assert upstream["scheduler"]["logGroomerSidecar"]["args"] == ["bash", "/clean-logs"]
    assert ">/clean-logs" in text
    assert ">/entrypoint" in text
    assert re.search(r'^ENTRYPOINT \["/usr/bin/dumb-init", "--", "/entrypoint"\]$', text, re.M)
    # The chart configures the FAB auth manager (and `airflow users create` is FAB's).
    assert "providers.fab" in upstream["config"]["core"]["auth_manager"]
    assert '"apache-airflow-providers-fab==${FAB_PROVIDER_VERSION}"' in text


def test_ray_image_has_what_kuberay_runs():
    text = (LOCAL / "ray.Dockerfile").read_text()
    install = next(r for r in runs_of(LOCAL / "ray.Dockerfile") if "apt-get install" in r)
    # KubeRay's probes: bash -c "wget ... | grep success"; its commands run in `bash -lc`,
    # whose /etc/profile resets PATH, so the venv is put back in /etc/profile.d.
    assert re.search(r"\bwget\b", install)
    assert "/etc/profile.d/" in text
    env = " ".join(
        rest for keyword, rest in instructions(LOCAL / "ray.Dockerfile") if keyword == "ENV"
    )
    assert "PATH=/opt/venv/bin:" in env


def test_minio_targets_fit_the_charts_deployment_and_bucket_job(chart_values):
    pod = chart_values["podSecurityContext"]
    by_stage = stages(LOCAL / "minio.Dockerfile")
    assert {"base", "minio", "mc"} <= set(by_stage)
    for name in ("minio", "mc"):
        steps = by_stage[name]
        assert ("COPY", f"{name} /usr/bin/{name}") in steps
        assert final_user(steps) == f"{pod['runAsUser']}:{pod['runAsGroup']}"
        assert ("ENTRYPOINT", f'["/usr/bin/{name}"]') in steps
    deployment = (CHART / "templates" / "store-minio-deployment.yaml").read_text()
    # The chart passes only args (server ...): the image's entrypoint must be minio.
    assert re.search(r"args:\n\s+- server\n\s+- /data\n", deployment)
    assert "command:" not in deployment
    job = (CHART / "templates" / "store-bucket-job.yaml").read_text()
    assert 'command: ["/bin/sh", "-c"]' in job
    assert "$(seq 1 60)" in job


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_build_context_holds_what_the_dockerfile_uses(dockerfile):
    text = dockerfile.read_text()
    used = set(re.findall(r"source=([\w/.-]+)", text))
    used |= {
        rest.split()[-2].rstrip("/")
        for keyword, rest in instructions(dockerfile)
        if keyword == "COPY"
    }
    if dockerfile.name in ROOT_CONTEXT:
        ignore = (ROOT / ".dockerignore").read_text().splitlines()
        allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
        assert used <= allowed, f"not in the context (.dockerignore): {sorted(used - allowed)}"
    else:
        assert used == OWN_CONTEXT[dockerfile.name]
        assert "temp_context" in APP_IMAGES.read_text()
    assert (LOCAL / "files" / "postgres-entrypoint.sh").exists()


FAKE_DOCKER = """#!/usr/bin/env bash
# A docker CLI stand-in: records builds, answers inspect from files in $FAKE_DOCKER_DIR.
echo "$*" >> "$FAKE_DOCKER_DIR/calls"
case "$1 $2" in
  "info "*|"buildx version") exit 0 ;;
  "buildx build") exit 0 ;;
  "run --rm") echo "ray, version test"; exit 0 ;;
  "image inspect")
    if [[ "$3" == -f ]]; then cat "$FAKE_DOCKER_DIR/label"; exit 0; fi
    exit 0 ;;
esac
exit 0
"""


def run_app_images(tmp_path, label: str) -> tuple[str, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(0o755)
    (tmp_path / "label").write_text(label)
    (tmp_path / "calls").write_text("")
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_DOCKER_DIR": str(tmp_path),
        "APP_IMAGES_LOGS": str(tmp_path / "logs"),
    }
    result = subprocess.run(
        ["bash", str(APP_IMAGES), "ray"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    builds = [c for c in (tmp_path / "calls").read_text().splitlines() if "buildx build" in c]
    return result.stdout, builds


def test_an_image_built_from_other_repository_files_is_rebuilt(tmp_path):
    """A changed provider or DAG folder must not leave `make up` running yesterday's code."""
    out, builds = run_app_images(tmp_path, "0123456789abcdef")
    match = re.search(r"was built from other repository files \(0123456789abcdef, now (\w+)\)", out)
    assert match, out
    [build] = builds
    assert f"--label ray-platform.sources={match.group(1)}" in build
    out, builds = run_app_images(tmp_path, match.group(1))
    assert "present, kept" in out and not builds
