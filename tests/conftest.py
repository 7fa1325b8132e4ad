"""Session-wide real services: a Ray head (token auth on) and an Airflow stack using it.

The test process itself talks to the same Ray through ``RayHook`` to inspect the registry, so
its environment is pointed at the session's Airflow home and connection before Airflow loads.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.airflow_stack import AirflowStack
from devstack.ray_head import RayHead
from devstack.s3_server import S3Server

ROOT = Path(__file__).resolve().parent.parent
TEST_DAGS = Path(__file__).resolve().parent / "dags"
PROJECT_DAGS = ROOT / "dags"

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="raytests-"))


def pytest_sessionfinish(session, exitstatus):
    """Keep the Airflow logs of a failed session for reading; remove them otherwise."""
    if exitstatus == 0:
        shutil.rmtree(_SESSION_DIR, ignore_errors=True)


os.environ["AIRFLOW_HOME"] = str(_SESSION_DIR / "airflow")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(TEST_DAGS)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# The session's deployment key: the test process and its Airflow stack are one deployment.
os.environ["AIRFLOW__RAY_PROVIDER__DEPLOYMENT_KEY"] = secrets.token_urlsafe(48)


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


@pytest.fixture(scope="session")
def ray_head() -> Iterator[RayHead]:
    head = RayHead(num_cpus=4, keeper=True).start()
    # The test process reaches the same head through the default connection.
    os.environ["AIRFLOW_CONN_RAY_DEFAULT"] = head.connection_json()
    try:
        yield head
    finally:
        from ray_provider.client import connect

        connect.disconnect()
        head.discard()


def _discarded_after(service):
    """Yield a service, then stop it and delete its files whatever happened."""
    try:
        yield service
    finally:
        service.discard()


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    server = S3Server().start()
    os.environ["AIRFLOW_CONN_S3_CHECKPOINTS"] = server.connection_json()
    yield from _discarded_after(server)


@pytest.fixture(scope="session")
def spare_ray_head() -> Iterator[RayHead]:
    """A second head, not started: fault tests start, restart and stop it themselves."""
    yield from _discarded_after(RayHead(num_cpus=2))


@pytest.fixture(scope="session")
def flaky_s3() -> Iterator[S3Server]:
    """A second S3 server, not started: a fault test brings it up halfway through a run."""
    yield from _discarded_after(S3Server())


@pytest.fixture(scope="session")
def dags_folder(session_dir: Path) -> Path:
    """The project's DAGs (the HIGGS pipeline) and the test DAGs, side by side."""
    folder = session_dir / "dags"
    for source in (PROJECT_DAGS, TEST_DAGS):
        shutil.copytree(
            source, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    return folder


@pytest.fixture(scope="session")
def airflow(
    dags_folder: Path,
    ray_head: RayHead,
    spare_ray_head: RayHead,
    s3: S3Server,
    flaky_s3: S3Server,
    session_dir: Path,
) -> Iterator[AirflowStack]:
    stack = AirflowStack(
        home=session_dir / "airflow",
        dags_folder=dags_folder,
        deployment_key=os.environ["AIRFLOW__RAY_PROVIDER__DEPLOYMENT_KEY"],
        extra_env={
            "AIRFLOW_CONN_RAY_DEFAULT": ray_head.connection_json(),
            "AIRFLOW_CONN_RAY_CLIENT": ray_head.connection_json(ray_head.client_address),
            "AIRFLOW_CONN_S3_CHECKPOINTS": s3.connection_json(),
            "AIRFLOW_CONN_RAY_SPARE": spare_ray_head.connection_json(),
            "AIRFLOW_CONN_S3_FLAKY": flaky_s3.connection_json(),
            "HOME": str(ray_head.temp_dir / "home"),
        },
    )
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def hook(ray_head: RayHead):
    from ray_provider.hooks.ray import RayHook

    hook = RayHook()
    hook.connect()
    return hook
