"""Connecting to a real Ray head: each failure is a specific error that names the fix.

Every case runs in its own process, because Ray allows one cluster connection per process.
"""

from __future__ import annotations

import json

import pytest

from devstack.processes import free_port
from tests.support.snippets import run_python

CONNECT = """
import time
from ray_provider.hooks.ray import RayHook
started = time.monotonic()
try:
    ok, message = RayHook({conn_id!r}).test_connection()
    print("TEST_CONNECTION", ok, message)
    hook = RayHook({conn_id!r})
    hook.connect()
    print("CONNECTED", hook.settings.address)
except Exception as exc:
    print("ERROR", type(exc).__name__, "|", exc)
print("SECONDS", time.monotonic() - started)
"""


def connect_with(conn: dict | None, conn_id: str = "ray_test", extra_env=None):
    env = {"RAY_URL": ""}
    if conn is not None:
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
    env.update(extra_env or {})
    result = run_python(CONNECT.format(conn_id=conn_id), env=env)
    lines = result.stdout.splitlines()
    outcome = next((line for line in lines if line.startswith(("CONNECTED", "ERROR"))), None)
    assert outcome, result.stdout + result.stderr
    seconds = float(next(line for line in lines if line.startswith("SECONDS")).split()[1])
    tested = next((line for line in lines if line.startswith("TEST_CONNECTION")), "")
    return outcome, seconds, tested


def test_driver_connection_with_token(ray_head):
    outcome, _, tested = connect_with(
        {"conn_type": "ray", "host": ray_head.address, "password": ray_head.token}
    )
    assert outcome == f"CONNECTED {ray_head.address}"
    # The UI's Test button reports the cluster it reached.
    assert tested.startswith("TEST_CONNECTION True Connected to Ray 2.60.0")
    assert "4 CPUs" in tested


def test_ray_client_connection(ray_head):
    outcome, _, _ = connect_with(
        {"conn_type": "ray", "host": ray_head.client_address, "password": ray_head.token}
    )
    assert outcome == f"CONNECTED {ray_head.client_address}"


def test_unreachable_names_the_address_quickly():
    port = free_port()
    outcome, seconds, _ = connect_with({"conn_type": "ray", "host": f"127.0.0.1:{port}"})
    assert outcome.startswith("ERROR RayUnreachableError")
    assert f"127.0.0.1:{port}" in outcome
    assert seconds < 30


def test_ray_url_overrides_the_connection(ray_head):
    port = free_port()
    outcome, _, _ = connect_with(
        {"conn_type": "ray", "host": ray_head.address, "password": ray_head.token},
        extra_env={"RAY_URL": f"127.0.0.1:{port}"},
    )
    assert outcome.startswith("ERROR RayUnreachableError") and str(port) in outcome


def test_wrong_token_is_an_auth_error(ray_head):
    outcome, seconds, _ = connect_with(
        {"conn_type": "ray", "host": ray_head.address, "password": "not-the-token-0123456789"}
    )
    assert outcome.startswith("ERROR RayAuthError")
    assert "not the cluster's token" in outcome
    assert seconds < 30


def test_missing_token_is_an_auth_error(ray_head):
    outcome, _, _ = connect_with({"conn_type": "ray", "host": ray_head.address})
    assert outcome.startswith("ERROR RayAuthError")
    assert "password field is empty" in outcome


def test_home_auth_token_file_is_not_used(ray_head, tmp_path):
    """A ~/.ray/auth_token that happens to exist must not change what the connection says."""
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text(ray_head.token)
    outcome, _, _ = connect_with(
        {"conn_type": "ray", "host": ray_head.address},
        extra_env={"HOME": str(tmp_path), "RAY_AUTH_MODE": "", "RAY_AUTH_TOKEN": ""},
    )
    assert outcome.startswith("ERROR RayAuthError")


def test_unknown_connection_id_names_the_fix():
    outcome, _, _ = connect_with(None, conn_id="no_such_ray")
    assert outcome.startswith("ERROR RayConnectionNotFoundError")
    assert "AIRFLOW_CONN_NO_SUCH_RAY" in outcome


def test_version_mismatch_is_reported(ray_head):
    """The cluster advertises other versions (its metadata rewritten): the hook refuses."""
    from ray._raylet import GcsClient

    from ray_provider.client.connect import _apply_auth
    from ray_provider.client.settings import RaySettings

    _apply_auth(RaySettings(conn_id="t", address=ray_head.address, token=ray_head.token))
    gcs = GcsClient(address=ray_head.address)
    original = gcs.internal_kv_get(b"CLUSTER_METADATA", b"cluster", timeout=10)
    metadata = json.loads(original)
    fake = {**metadata, "ray_version": "2.9.0", "python_version": "3.12.1"}
    gcs.internal_kv_put(
        b"CLUSTER_METADATA", json.dumps(fake).encode(), True, b"cluster", timeout=10
    )
    try:
        outcome, _, _ = connect_with(
            {"conn_type": "ray", "host": ray_head.address, "password": ray_head.token}
        )
    finally:
        gcs.internal_kv_put(b"CLUSTER_METADATA", original, True, b"cluster", timeout=10)
    assert outcome.startswith("ERROR RayVersionMismatchError")
    assert "Ray 2.9.0 on the cluster" in outcome
    assert "Python 3.12.1 on the cluster" in outcome


@pytest.mark.parametrize("bad_host", ["1bad://head", "head:port"])
def test_malformed_address_names_the_field(bad_host):
    outcome, _, _ = connect_with({"conn_type": "ray", "host": bad_host})
    assert outcome.startswith("ERROR RayConnectionConfigError")
    assert "'ray_test', host" in outcome


def test_a_module_scheme_connects_through_its_client_builder(ray_head, tmp_path):
    """RAY_URL=MODULE://NAME (the 2021 post's anyscale:// switch) goes through MODULE's builder."""
    marker = tmp_path / "resolved"
    outcome, _, tested = connect_with(
        {"conn_type": "ray", "host": ray_head.address, "password": ray_head.token},
        extra_env={
            "RAY_URL": "tests.support.ray_builder_probe://team-a",
            "PROBE_CLUSTER_TEAM_A": ray_head.client_address.removeprefix("ray://"),
            "PROBE_BUILDER_MARKER": str(marker),
        },
    )
    assert outcome == "CONNECTED tests.support.ray_builder_probe://team-a"
    assert tested.startswith("TEST_CONNECTION True Connected to Ray 2.60.0")
    assert marker.read_text().startswith(f"team-a -> 127.0.0.1:{ray_head.client_port}")


def test_a_module_scheme_without_the_module_names_it(ray_head):
    outcome, seconds, _ = connect_with(
        {"conn_type": "ray", "host": "anyscale://prod-cluster", "password": ray_head.token}
    )
    assert outcome.startswith("ERROR RayConnectionConfigError")
    assert "module 'anyscale'" in outcome and "pip install anyscale" in outcome
    assert seconds < 30


def test_a_module_without_a_client_builder_is_refused(ray_head):
    outcome, _, _ = connect_with({"conn_type": "ray", "host": "json://prod-cluster"})
    assert outcome.startswith("ERROR RayConnectionConfigError")
    assert "has no ClientBuilder" in outcome
