"""Session-wide real services: the local platform (Ray head with token auth, S3, Airflow).

The test process itself talks to the same Ray through ``RayHook`` to inspect the registry, so
its environment is pointed at the session's Airflow home and connection before Airflow loads.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.airflow_stack import AirflowStack
from devstack.platform import PROJECT_DAGS, LocalPlatform
from devstack.ray_head import RayHead
from devstack.s3_server import S3Server

TEST_DAGS = Path(__file__).resolve().parent / "dags"

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="raytests-"))


def pytest_sessionfinish(session, exitstatus):
    """Keep the Airflow logs of a failed session for reading; remove them otherwise."""
    if exitstatus == 0:
        shutil.rmtree(_SESSION_DIR, ignore_errors=True)


os.environ["AIRFLOW_HOME"] = str(_SESSION_DIR / "airflow")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(TEST_DAGS)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# The AWS chain (a connection without keys) must never probe EC2's metadata address here:
# tests talk to 127.0.0.1 only. Ray heads and Airflow started below inherit it.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
# The session's deployment key: the test process and its Airflow stack are one deployment.
os.environ["AIRFLOW__RAY_PROVIDER__DEPLOYMENT_KEY"] = secrets.token_urlsafe(48)


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


@pytest.fixture(scope="session")
def platform(session_dir: Path) -> Iterator[LocalPlatform]:
    """The local platform (``devstack.platform``); each fixture below starts and stops its part.

    Airflow parses the project's DAGs (the HIGGS pipeline) and the test DAGs side by side. The
    Ray head runs its dashboard, as KubeRay's does: the Jobs API and the links live there.
    """
    platform = LocalPlatform(
        work_dir=session_dir,
        dags=(PROJECT_DAGS, TEST_DAGS),
        num_cpus=4,
        dashboard=True,
        deployment_key=os.environ["AIRFLOW__RAY_PROVIDER__DEPLOYMENT_KEY"],
    )
    try:
        yield platform
    finally:
        platform.stop()


@pytest.fixture(scope="session")
def ray_head(platform: LocalPlatform) -> Iterator[RayHead]:
    head = platform.start_ray()
    # The test process reaches the same head through the default connection.
    os.environ.update(platform.connections())
    try:
        yield head
    finally:
        from ray_provider.client import connect

        connect.disconnect()
        platform.stop_ray()


def _discarded_after(service):
    """Yield a service, then stop it and delete its files whatever happened."""
    try:
        yield service
    finally:
        service.discard()


@pytest.fixture(scope="session")
def s3(platform: LocalPlatform) -> Iterator[S3Server]:
    server = platform.start_s3()
    os.environ.update(platform.connections())
    try:
        yield server
    finally:
        platform.stop_s3()


@pytest.fixture(scope="session")
def spare_ray_head() -> Iterator[RayHead]:
    """A second head, not started: fault tests start, restart and stop it themselves."""
    yield from _discarded_after(RayHead(num_cpus=2))


@pytest.fixture(scope="session")
def flaky_s3() -> Iterator[S3Server]:
    """A second S3 server, not started: a fault test brings it up halfway through a run."""
    yield from _discarded_after(S3Server())


@pytest.fixture(scope="session")
def airflow(
    platform: LocalPlatform,
    ray_head: RayHead,
    spare_ray_head: RayHead,
    s3: S3Server,
    flaky_s3: S3Server,
) -> Iterator[AirflowStack]:
    stack = platform.start_airflow(
        extra_env={
            "AIRFLOW_CONN_RAY_CLIENT": ray_head.connection_json(ray_head.client_address),
            # The 2021 post's connection: task resources as connection defaults, its spelling.
            "AIRFLOW_CONN_RAY_SEED": ray_head.connection_json(extra={"num_cpu": 2, "num_gpu": 0}),
            # astro-provider-ray's form: the dashboard URL in the "address" extra, no host
            # (the port field names the head's Ray Client port, 10001 in a cluster).
            "AIRFLOW_CONN_RAY_CONN": json.dumps(
                {
                    "conn_type": "ray",
                    "port": ray_head.client_port,
                    "password": ray_head.token,
                    "extra": {"address": f"http://127.0.0.1:{ray_head.dashboard_port}"},
                }
            ),
            "AIRFLOW_CONN_RAY_SPARE": spare_ray_head.connection_json(),
            "AIRFLOW_CONN_S3_FLAKY": flaky_s3.connection_json(),
        }
    )
    try:
        yield stack
    finally:
        platform.stop_airflow()


@pytest.fixture(scope="session")
def hook(ray_head: RayHead):
    from ray_provider.hooks.ray import RayHook

    hook = RayHook()
    hook.connect()
    return hook
