"""Requests the cluster cannot hold, tasks that wait, and work stuck behind its own task.

Against the session's real Ray head (4 CPUs, no autoscaler): what a task asks for is compared
with the nodes before it is submitted; a task that never starts fails after the connection's
pending_timeout_seconds; a running task whose own actors cannot be placed gets a warning that
says what waits and what holds the resources.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from ray import cloudpickle

from ray_provider.client.results import Watch
from ray_provider.exceptions import RayResourceError
from ray_provider.hooks.ray import RayHook
from ray_provider.runtime import capacity
from tests.support.registry import wait_for_file


def submit(hook, task_id, function, *args, **options):
    """Submit without waiting (``RayResults.run`` would wait): the slot and the report's ref."""
    results = hook.results()
    slot = results.new_result("capacity", "r1", task_id)
    report_ref = results.submit(slot, cloudpickle.dumps((function, args, {})), options=options)
    return slot, report_ref


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"num_cpus": 64}, "CPU 64"),
        ({"num_cpus": 1, "resources": {"tpu_v9": 1}}, "tpu_v9 1"),
        ({"num_cpus": 1, "memory": 2**50}, "memory 1048576.0 GiB"),
    ],
)
def test_a_request_no_node_can_hold_fails_before_submission(hook, options, named):
    with pytest.raises(RayResourceError) as info:
        hook.results().check_feasible(options, "capacity.too_big")
    message = str(info.value)
    assert named in message and "largest:" in message and "CPU 4" in message
    assert "no autoscaler" in message
    hook.results().check_feasible({"num_cpus": 4}, "capacity.fits")  # the largest node is enough


def test_a_task_that_never_starts_fails_after_the_pending_timeout(
    hook, ray_head, monkeypatch, tmp_path
):
    conn = json.loads(ray_head.connection_json())
    conn["extra"] = {"pending_timeout_seconds": 3}
    monkeypatch.setenv("AIRFLOW_CONN_RAY_IMPATIENT", json.dumps(conn))
    impatient = RayHook("ray_impatient")
    gate = tmp_path / "gate"
    _, blocker = submit(hook, "blocker", wait_for_file, str(gate), num_cpus=3)
    try:
        slot, report_ref = submit(impatient, "waiter", lambda: 1, num_cpus=2)
        watch = Watch(slot.key, slot.generation, {"CPU": 2.0}, "capacity.waiter")
        started = time.monotonic()
        with pytest.raises(RayResourceError) as info:
            impatient.results().wait(report_ref, poll_seconds=30, watch=watch)
        assert time.monotonic() - started < 30
        message = str(info.value)
        assert "waited" in message and "never started" in message and "{CPU 2}" in message
        assert "CPU 1" in message  # what is free: 4 - 3
        assert "pending_timeout_seconds" in message
        assert slot.key not in hook.results().stats()["keys"]  # cancelled and forgotten
    finally:
        gate.touch()
    assert hook.results().wait(blocker).ok
    hook.results().release_run("capacity", "r1")


def start_actors_and_wait(count: int, cpus: float) -> int:
    """The 2021 shape: a task that starts actors which need the CPUs it holds itself."""
    import ray

    @ray.remote(num_cpus=cpus)
    class TrainingActor:
        def ping(self):
            return 1

    actors = [TrainingActor.remote() for _ in range(count)]
    return sum(ray.get([a.ping.remote() for a in actors]))


def test_work_stuck_behind_its_own_task_is_explained_within_a_minute(hook):
    # 3 actors x 2 CPUs on 4 CPUs (the task lends its own CPU back while it waits in ray.get):
    # the third actor can never start, and the task waits for it for ever.
    slot, report_ref = submit(hook, "stuck", start_actors_and_wait, 3, 2, num_cpus=1)
    warnings: list[str] = []
    warned = threading.Event()

    def warn(message: str) -> None:
        warnings.append(message)
        warned.set()

    watch = Watch(slot.key, slot.generation, {"CPU": 1.0}, "capacity.stuck", warn)
    outcome: list[BaseException] = []

    def waiting() -> None:
        try:
            outcome.append(hook.results().wait(report_ref, poll_seconds=30, watch=watch))
        except BaseException as exc:  # the cancellation below
            outcome.append(exc)

    waiter = threading.Thread(target=waiting, daemon=True)
    started = time.monotonic()
    waiter.start()
    try:
        assert warned.wait(90), "no warning about the stuck actor within 90 s"
        assert time.monotonic() - started < 65
    finally:
        hook.results().cancel(slot)
        waiter.join(60)
    message = warnings[0]
    assert "waiting for resources that no node has free" in message
    assert "1 x {CPU 2}" in message and "TrainingActor x2" in message
    assert "num_actors" in message and "cpus_per_actor" in message
    assert not waiter.is_alive(), "the wait should end once the task is cancelled"
    [report] = outcome
    assert isinstance(report, BaseException) or not report.ok
    hook.results().release_run("capacity", "r1")


def test_stall_message_needs_work_that_fits_no_node_now():
    snapshot = {
        "nodes": [{"ip": "n1", "total": {"CPU": 4.0}, "available": {"CPU": 1.0}}],
        "pending": [{"shape": {"CPU": 1.0}, "count": 3}],
        "holders": {},
    }
    assert capacity.stall_message(snapshot, {"CPU": 1.0}, "t") is None  # it fits: just queued
    snapshot["pending"] = [{"shape": {"CPU": 2.0}, "count": 1}]
    assert "1 x {CPU 2}" in capacity.stall_message(snapshot, {"CPU": 1.0}, "t")
