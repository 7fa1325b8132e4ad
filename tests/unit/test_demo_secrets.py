"""make demo's secrets: generated per stack, and its state file readable by its owner only."""

from __future__ import annotations

import stat

from devstack import demo
from devstack.airflow_stack import AirflowStack


def test_each_stack_generates_its_own_jwt_secret_and_deployment_key(tmp_path):
    first = AirflowStack(home=tmp_path / "a", dags_folder=tmp_path).env()
    second = AirflowStack(home=tmp_path / "b", dags_folder=tmp_path).env()
    for name in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__RAY_PROVIDER__DEPLOYMENT_KEY"):
        assert len(first[name]) >= 48 and first[name] != second[name]


def test_the_state_file_is_private_even_when_it_existed(tmp_path):
    state = tmp_path / "state.json"
    state.write_text("{}")
    state.chmod(0o644)
    demo._write_private(state, '{"deployment_key": "k"}')
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert state.read_text() == '{"deployment_key": "k"}'
