"""``ray_provider.cli.keeper``: the registry's Ray job outlives the task processes that use it.

Every step is a separate driver process that exits (as an Airflow task process does), on a
Ray head of this module's own, so the registry's ownership is exactly what the test sets up.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack.ray_head import RayHead

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def head():
    head = RayHead(num_cpus=2).start()
    try:
        yield head
    finally:
        head.discard()


def drive(head: RayHead, *args: str, output: list[str] | None = None) -> dict:
    env = {**head.env(), "AIRFLOW_CONN_RAY_DEFAULT": head.connection_json()}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-m", "tests.support.registry_driver", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    if output is not None:  # the hook logs through structlog, to stdout
        output.append(result.stdout + result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def wait_for_log(head: RayHead, pattern: str, timeout: float = 60.0) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, head.keeper_log.read_text() if head.keeper_log.exists() else "")
        if match:
            return match
        time.sleep(0.2)
    raise AssertionError(f"no {pattern!r} in the keeper log:\n{head.keeper_log.read_text()}")


def test_a_submission_waits_out_a_registry_handover(head):
    """A task submitted while the registry is retired lands on its replacement."""
    logged: list[str] = []
    result = drive(head, "handover", "h1", output=logged)
    assert result["ok"] and result["waited"] >= 1.0
    # No keeper yet: the task process that created the registry was told what that costs
    # and what to run instead.
    assert "Created the result registry from this task's Ray job" in logged[0]
    assert f"python -m ray_provider.cli.keeper --address {head.address}" in logged[0]


def test_keeper_takes_over_once_idle_and_workers_stay_warm(head):
    # An exited "task process" (the registry's creator in the test above) left a result.
    first = drive(head, "produce", "busy")
    assert first["ok"]
    head.start_keeper(check_seconds=0.5, wait_ready=False)
    wait_for_log(head, r"holds 1 result\(s\) of 1 run\(s\); taking over once")
    assert drive(head, "registry_job")["job"] == first["job"], "replaced a busy registry"

    drive(head, "release", "busy")
    kept = wait_for_log(head, r"Keeping the result registry in namespace 'airflow' \(Ray job (\w+)")
    assert "Replaced an idle result registry" in head.keeper_log.read_text()
    deadline = time.monotonic() + 30
    while drive(head, "registry_job")["job"] != kept.group(1):
        assert time.monotonic() < deadline, "the keeper's registry never appeared"

    # Two tasks from two driver processes that have exited run in the same warm worker.
    pids = [drive(head, "worker_pid", f"warm{i}")["pid"] for i in range(2)]
    assert pids[0] == pids[1]

    head.stop_keeper()
    # Results survive the keeper; the registry stays (owned by the keeper's ended job).
    assert drive(head, "produce", "after")["ok"]
