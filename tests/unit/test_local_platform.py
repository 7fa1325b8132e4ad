"""``devstack.platform.LocalPlatform`` without starting anything: its state and its options.

The state is what ``python -m bench`` hands to each benchmark process and what ``make
demo-stop`` stops by; a key lost on the way means a benchmark talks to the wrong port or a
demo process is left running.
"""

from __future__ import annotations

import pytest

from devstack.platform import LocalPlatform

DEMO_KEYS = {
    "ray_token",
    "ray_port",
    "ray_client_port",
    "dashboard_port",
    "ray_temp_dir",
    "keeper_pid",
    "s3_port",
    "s3_access_key",
    "s3_secret_key",
    "s3_pid",
    "airflow_port",
    "jwt_secret",
    "deployment_key",
    "airflow_pids",
}


@pytest.fixture
def platform(tmp_path):
    made = LocalPlatform(work_dir=tmp_path / "work", dags=(tmp_path / "a", tmp_path / "b"))
    yield made
    made.stop()  # nothing runs: deletes the head's and the S3 server's temp dirs


def test_the_state_keeps_the_demo_state_file_keys(platform):
    assert set(platform.state()) >= DEMO_KEYS


def test_attach_gives_back_the_same_services_and_secrets(platform):
    attached = LocalPlatform.attach(platform.state())
    assert attached.state() == platform.state()
    assert attached.head.connection_json() == platform.head.connection_json()
    assert attached.s3.connection_json() == platform.s3.connection_json()
    assert attached.airflow is None


def test_an_attached_platform_without_airflow_refuses_to_start_one(platform):
    attached = LocalPlatform.attach(platform.state())
    with pytest.raises(RuntimeError, match="start Airflow in the process that started"):
        attached.start_airflow()


def test_connections_name_only_what_runs(platform):
    assert platform.connections() == {}


def test_one_dags_folder_is_used_as_it_is_several_are_copied_side_by_side(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.py").write_text("")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "two.py").write_text("")
    single = LocalPlatform(work_dir=tmp_path / "w1", dags=(tmp_path / "a",), s3_enabled=False)
    both = LocalPlatform(work_dir=tmp_path / "w2", dags=(tmp_path / "a", tmp_path / "b"))
    try:
        assert single.dags_folder() == tmp_path / "a"
        copied = both.dags_folder()
        assert copied == tmp_path / "w2" / "dags"
        assert {p.name for p in copied.iterdir()} == {"one.py", "two.py"}
        assert single.s3 is None and "s3_port" in single.state()
    finally:
        single.stop()
        both.stop()


def test_each_platform_generates_its_own_secrets(tmp_path):
    first = LocalPlatform(work_dir=tmp_path / "1", s3_enabled=False)
    second = LocalPlatform(work_dir=tmp_path / "2", s3_enabled=False)
    try:
        assert first.deployment_key != second.deployment_key
        assert first.jwt_secret != second.jwt_secret and len(first.jwt_secret) >= 48
        assert first.head.token != second.head.token
    finally:
        first.stop()
        second.stop()
