"""``ray_provider.cli.keeper``: the registry's Ray job outlives the task processes that use it.

Every step is a separate driver process that exits (as an Airflow task process does), on a
Ray head of this module's own, so the registry's ownership is exactly what the test sets up.
Each test has a Ray namespace (so a registry) of its own and reads only its own part of the
keeper's log, so the tests do not depend on each other or on their order.
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


@pytest.fixture
def namespace(request) -> str:
    """A Ray namespace for this test alone: its registry starts absent."""
    return f"keeper-{request.node.name.removeprefix('test_')[:40]}"


def drive(head: RayHead, namespace: str, *args: str, output: list[str] | None = None) -> dict:
    conn = {**json.loads(head.connection_json()), "extra": {"namespace": namespace}}
    env = {**head.env(), "AIRFLOW_CONN_RAY_DEFAULT": json.dumps(conn)}
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


def keeper_log_since(head: RayHead, offset: int) -> str:
    """What the keeper wrote after ``offset`` (this test's keeper, not an earlier one)."""
    if not head.keeper_log.exists():
        return ""
    return head.keeper_log.read_bytes()[offset:].decode(errors="replace")


def wait_for_log(head: RayHead, offset: int, pattern: str, timeout: float = 60.0) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, keeper_log_since(head, offset))
        if match:
            return match
        time.sleep(0.2)
    raise AssertionError(f"no {pattern!r} in the keeper log:\n{keeper_log_since(head, offset)}")


def test_a_submission_waits_out_a_registry_handover(head, namespace):
    """A task submitted while the registry is retired lands on its replacement."""
    logged: list[str] = []
    result = drive(head, namespace, "handover", "h1", output=logged)
    assert result["ok"]
    # The submission was refused by the retired registry (twice), waited, and landed on the
    # replacement: the old registry is gone and the new one holds the result.
    assert result["looks_after_refusal"] >= 2, result
    assert result["old_gone"] and result["held_by_replacement"] == 1, result
    # No keeper yet: the task process that created the registry was told what that costs
    # and what to run instead.
    assert "Created the result registry from this task's Ray job" in logged[0]
    assert f"python -m ray_provider.cli.keeper --address {head.address}" in logged[0]


def test_keeper_takes_over_once_idle_and_workers_stay_warm(head, namespace):
    # An exited "task process" created the registry and left a result in it.
    first = drive(head, namespace, "produce", "busy")
    assert first["ok"]
    offset = head.keeper_log.stat().st_size if head.keeper_log.exists() else 0
    head.start_keeper(namespace=namespace, check_seconds=0.5, wait_ready=False)
    try:
        wait_for_log(head, offset, r"holds 1 result\(s\) of 1 run\(s\); taking over once")
        assert drive(head, namespace, "registry_job")["job"] == first["job"], "replaced it busy"

        drive(head, namespace, "release", "busy")
        kept = wait_for_log(
            head,
            offset,
            rf"Keeping the result registry in namespace '{namespace}' \(Ray job (\w+)",
        )
        assert "Replaced an idle result registry" in keeper_log_since(head, offset)
        deadline = time.monotonic() + 30
        while drive(head, namespace, "registry_job")["job"] != kept.group(1):
            assert time.monotonic() < deadline, "the keeper's registry never appeared"

        # Two tasks from two driver processes that have exited run in the same warm worker.
        pids = [drive(head, namespace, "worker_pid", f"warm{i}")["pid"] for i in range(2)]
        assert pids[0] == pids[1]
    finally:
        head.stop_keeper()
    # Results survive the keeper; the registry stays (owned by the keeper's ended job).
    assert drive(head, namespace, "produce", "after")["ok"]
