"""The result registry against a real Ray head: ownership, nesting, release, TTL, memory."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from tests.support.processes import pid_alive, wait_until
from tests.support.registry import RefSlot, plasma_usage, run_task


def make_array(megabytes: int):
    import numpy as np

    return np.full(megabytes * 1024 * 1024 // 8, 1.0)


def array_sum(values):
    return float(values.sum())


def test_result_outlives_the_process_that_asked_for_it(hook):
    """A producer submitted from a process that then exits is still readable afterwards."""
    from tests.support.snippets import run_python

    producer = run_python(
        """
        from ray_provider.hooks.ray import RayHook
        from tests.support.registry import run_task
        hook = RayHook(); hook.connect()
        def make():
            return list(range(1000))
        ref, report = run_task(hook, "own", "r1", "make", make)
        print("OK", report.ok, os.getpid() if False else "")
        """.replace('os.getpid() if False else ""', "report.result_type"),
    )
    assert "OK True builtins.list" in producer.stdout, producer.stderr[-3000:]
    from ray_provider.reference import RayResultRef

    ref = RayResultRef(key="own/r1/make/-1", namespace="airflow", ray_conn_id="ray_default")
    assert hook.materialize(ref) == list(range(1000))
    assert hook.release_run("own/r1") == 1


def test_consumer_gets_the_producers_object(hook):
    produced, _ = run_task(hook, "pass", "r1", "make", make_array, 16)
    total, report = run_task(hook, "pass", "r1", "sum", array_sum, RefSlot(0), upstream=[produced])
    assert report.ok, report.traceback
    assert hook.materialize(total) == 16 * 1024 * 1024 / 8
    assert hook.release_run("pass/r1") == 2


def test_modin_frame_survives_its_worker_being_killed(hook):
    def make_modin():
        import os

        import modin.pandas as mpd
        import numpy as np

        frame = mpd.DataFrame(np.arange(30_000, dtype="float64").reshape(10_000, 3))
        return {"frame": frame, "pid": os.getpid()}

    produced, report = run_task(hook, "modin", "r1", "make", make_modin)
    assert report.ok, report.traceback
    pid = hook.materialize(produced)["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(pid), 30, f"Ray worker {pid} to die")

    def check(payload):
        import modin.pandas as mpd

        frame = payload["frame"]
        return type(frame).__module__, isinstance(frame, mpd.DataFrame), float(frame.sum().sum())

    checked, report = run_task(hook, "modin", "r1", "check", check, RefSlot(0), upstream=[produced])
    assert report.ok, report.traceback
    module, is_modin, total = hook.materialize(checked)
    assert is_modin, module
    assert total == sum(range(30_000))
    # A plain (Airflow-side) reader gets the same type as a Ray consumer.
    import modin.pandas as mpd

    assert isinstance(hook.materialize(produced)["frame"], mpd.DataFrame)
    hook.release_run("modin/r1")


def test_nested_refs_that_cannot_be_reowned_are_refused(hook):
    class Holder:
        def __init__(self, ref):
            self.ref = ref

    def make_holder():
        import ray

        return Holder(ray.put(list(range(10))))

    _, report = run_task(hook, "nested", "r1", "make", make_holder)
    assert not report.ok
    assert report.error_type.endswith("NestedObjectRefError")
    assert "ray.get" in report.error_message
    hook.release_run("nested/r1")


def test_bare_nested_refs_are_resolved(hook):
    def make_refs():
        import ray

        return {"parts": [ray.put(i) for i in range(3)]}

    ref, report = run_task(hook, "nested", "r2", "make", make_refs)
    assert report.ok, report.traceback
    assert hook.materialize(ref) == {"parts": [0, 1, 2]}
    hook.release_run("nested/r2")


def test_unserializable_result_is_a_clear_error(hook):
    def make_lock():
        return threading.Lock()

    _, report = run_task(hook, "unser", "r1", "make", make_lock)
    assert not report.ok
    assert report.error_type.endswith("UnserializableResultError")
    assert "_thread.lock" in report.error_message and "Return plain data" in report.error_message


def test_ttl_sweep_frees_forgotten_runs(hook):
    import ray

    registry = hook.registry()
    ref, _ = run_task(hook, "ttl", "r1", "make", make_array, 1)
    ray.get(registry.set_ttl.remote(3600))
    assert ray.get(registry.sweep.remote()) == 0
    ray.get(registry.set_ttl.remote(0.001))
    try:
        assert ray.get(registry.sweep.remote()) >= 1
    finally:
        ray.get(registry.set_ttl.remote(hook.settings.result_ttl_seconds))
    assert ref.key not in hook.registry_stats()["keys"]


@pytest.mark.slow
def test_object_store_is_flat_over_20_runs(hook, ray_head):
    """20 runs of producer -> consumer with 64 MB each, released at run end: no growth."""
    baseline = None
    usages = []
    for run in range(20):
        produced, _ = run_task(hook, "soak", f"r{run}", "make", make_array, 64)
        total, report = run_task(
            hook, "soak", f"r{run}", "sum", array_sum, RefSlot(0), upstream=[produced]
        )
        assert report.ok and hook.materialize(total) == 64 * 1024 * 1024 / 8
        assert hook.release_run(f"soak/r{run}") == 2
        used, _ = wait_until(
            lambda: (u := plasma_usage(ray_head.address))[0] < 64 and u,
            30,
            "the object store to drop the released run",
        )
        usages.append(used)
        baseline = used if baseline is None else baseline
    assert max(usages) - min(usages) < 16, usages
    assert hook.registry_stats()["results"] == 0 or not any(
        k.startswith("soak/") for k in hook.registry_stats()["keys"]
    )
