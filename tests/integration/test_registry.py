"""The result registry against a real Ray head: ownership, nesting, release, TTL, memory."""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest

from devstack.processes import pid_alive, wait_until
from tests.support.registry import RefSlot, plasma_usage, run_key_of, run_task, wait_for_file


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
        import json
        from ray_provider.hooks.ray import RayHook
        from tests.support.registry import run_task
        hook = RayHook(); hook.connect()
        def make():
            return list(range(1000))
        ref, report = run_task(hook, "own", "r1", "make", make)
        print("OK", report.ok, report.result_type)
        print("REF", json.dumps(ref.to_xcom()))
        """,
    )
    assert "OK True builtins.list" in producer.stdout, producer.stderr[-3000:]
    from ray_provider.client.reference import RayResultRef

    line = next(x for x in producer.stdout.splitlines() if x.startswith("REF "))
    ref = RayResultRef.from_xcom(json.loads(line[4:]))
    assert hook.results().materialize(ref) == list(range(1000))
    assert hook.results().release_run("own", "r1") == 1


def test_consumer_gets_the_producers_object(hook):
    produced, _ = run_task(hook, "pass", "r1", "make", make_array, 16)
    total, report = run_task(hook, "pass", "r1", "sum", array_sum, RefSlot(0), upstream=[produced])
    assert report.ok, report.traceback
    assert hook.results().materialize(total) == 16 * 1024 * 1024 / 8
    assert hook.results().release_run("pass", "r1") == 2


def test_modin_frame_survives_its_worker_being_killed(hook):
    def make_modin():
        import os

        import modin.pandas as mpd
        import numpy as np

        frame = mpd.DataFrame(np.arange(30_000, dtype="float64").reshape(10_000, 3))
        return {"frame": frame, "pid": os.getpid()}

    produced, report = run_task(hook, "modin", "r1", "make", make_modin)
    assert report.ok, report.traceback
    pid = hook.results().materialize(produced)["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(pid), 30, f"Ray worker {pid} to die")

    def check(payload):
        import modin.pandas as mpd

        frame = payload["frame"]
        return type(frame).__module__, isinstance(frame, mpd.DataFrame), float(frame.sum().sum())

    checked, report = run_task(hook, "modin", "r1", "check", check, RefSlot(0), upstream=[produced])
    assert report.ok, report.traceback
    module, is_modin, total = hook.results().materialize(checked)
    assert is_modin, module
    assert total == sum(range(30_000))
    # A plain (Airflow-side) reader gets the same type as a Ray consumer.
    import modin.pandas as mpd

    assert isinstance(hook.results().materialize(produced)["frame"], mpd.DataFrame)
    hook.results().release_run("modin", "r1")


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
    hook.results().release_run("nested", "r1")


def test_bare_nested_refs_are_resolved(hook):
    def make_refs():
        import ray

        return {"parts": [ray.put(i) for i in range(3)]}

    ref, report = run_task(hook, "nested", "r2", "make", make_refs)
    assert report.ok, report.traceback
    assert hook.results().materialize(ref) == {"parts": [0, 1, 2]}
    hook.results().release_run("nested", "r2")


def test_namedtuple_and_ordered_dict_keep_their_types_through_ray(hook):
    """Arguments (with an upstream slot inside) and results cross Ray as their own types."""
    from collections import OrderedDict, namedtuple

    Batch = namedtuple("Batch", ["features", "rounds"])  # local: pickled by value

    def make():
        return OrderedDict([("z", Batch([1, 2], 3)), ("a", 1)])

    def inspect(batch, options):
        return (
            type(batch).__name__,
            type(options).__name__,
            list(options),
            type(batch.features).__name__,
            batch.rounds,
        )

    produced, report = run_task(hook, "walk", "r1", "make", make)
    assert report.ok, report.traceback
    made = hook.results().materialize(produced)
    assert type(made) is OrderedDict and list(made) == ["z", "a"]
    assert type(made["z"]).__name__ == "Batch" and made["z"].rounds == 3
    arguments = (Batch(RefSlot(0), 5), OrderedDict([("b", RefSlot(0)), ("a", 2)]))
    seen, report = run_task(hook, "walk", "r1", "inspect", inspect, *arguments, upstream=[produced])
    assert report.ok, report.traceback
    expected = ("Batch", "OrderedDict", ["b", "a"], "OrderedDict", 5)
    assert hook.results().materialize(seen) == expected
    hook.results().release_run("walk", "r1")


def test_unserializable_result_is_a_clear_error(hook):
    def make_lock():
        return threading.Lock()

    _, report = run_task(hook, "unser", "r1", "make", make_lock)
    assert not report.ok
    assert report.error_type.endswith("UnserializableResultError")
    assert "_thread.lock" in report.error_message and "Return plain data" in report.error_message


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
        assert report.ok and hook.results().materialize(total) == 64 * 1024 * 1024 / 8
        assert hook.results().release_run("soak", f"r{run}") == 2
        used, _ = wait_until(
            lambda: (u := plasma_usage(ray_head.address))[0] < 64 and u,
            30,
            "the object store to drop the released run",
        )
        usages.append(used)
        baseline = used if baseline is None else baseline
    assert max(usages) - min(usages) < 16, usages
    assert hook.results().stats()["results"] == 0 or not any(
        k.startswith(run_key_of("soak", "")) for k in hook.results().stats()["keys"]
    )


def test_two_deployments_with_the_same_run_keep_their_own_values(hook, monkeypatch):
    """Default settings, one Ray cluster, same dag_id/run_id/task_id: nothing is shared."""
    from ray_provider.client.deployment import ENV

    run = "scheduled__2026-12-01T00:00:00+00:00"
    key_a, key_b = (f"deployment {n}'s key, long enough to be accepted" for n in "AB")
    monkeypatch.setenv(ENV, key_a)
    ref_a, _ = run_task(hook, "same_dag", run, "make", lambda: "value of A")
    monkeypatch.setenv(ENV, key_b)
    ref_b, _ = run_task(hook, "same_dag", run, "make", lambda: "value of B")
    assert ref_a.key != ref_b.key and ref_a.run_key != ref_b.run_key
    assert hook.results().materialize(ref_a) == "value of A"
    assert hook.results().materialize(ref_b) == "value of B"
    # A's run ends: only A's results go.
    monkeypatch.setenv(ENV, key_a)
    assert hook.results().release_run("same_dag", run) == 1
    assert hook.results().materialize(ref_b) == "value of B"
    monkeypatch.setenv(ENV, key_b)
    assert hook.results().release_run("same_dag", run) == 1


def test_a_zombie_try_cannot_touch_its_retrys_result(hook):
    """discard/cancel/describe name their try; a reference made before a retry is refused."""
    from ray_provider.exceptions import RayResultSupersededError

    first, _ = run_task(hook, "zombie", "r1", "make", lambda: "first try")
    retry, _ = run_task(hook, "zombie", "r1", "make", lambda: "second try")
    assert first.key == retry.key and first.generation != retry.generation
    assert hook.results().discard(first) is False
    hook.results().cancel(first)
    assert hook.results().describe(first, "builtins.str", 1) is False
    assert hook.results().materialize(retry) == "second try"
    with pytest.raises(RayResultSupersededError, match="ran again"):
        hook.results().materialize(first)
    assert hook.results().release_run("zombie", "r1") == 1


def short_ttl_hook(ray_head, monkeypatch, seconds):
    from ray_provider.hooks.ray import RayHook

    conn = json.loads(ray_head.connection_json())
    conn["extra"] = {"result_ttl_seconds": seconds}
    monkeypatch.setenv("AIRFLOW_CONN_RAY_SHORT_TTL", json.dumps(conn))
    return RayHook("ray_short_ttl")


def test_release_and_sweep_spare_later_tries_and_running_tasks(
    hook, ray_head, monkeypatch, tmp_path
):
    import time

    import ray
    from ray import cloudpickle

    ended_at = time.time() - 60  # the run ended a minute ago; this try started since
    ref, _ = run_task(hook, "late", "r1", "make", lambda: "made after the run ended")
    assert hook.results().release_run("late", "r1", ended_at) == 0
    assert hook.results().materialize(ref) == "made after the run ended"

    # A task still running, with a TTL long past: neither release nor sweep drops it.
    short = short_ttl_hook(ray_head, monkeypatch, 0.001)
    gate = tmp_path / "gate"
    slow = short.results().new_result("late", "r1", "slow")
    report_ref = short.results().submit(
        slow, cloudpickle.dumps((wait_for_file, (str(gate),), {})), options={"num_cpus": 0.1}
    )
    assert hook.results().release_run("late", "r1") == 1  # only the finished one
    ray.get(short.results().registry().sweep.remote())
    assert slow.key in hook.results().stats()["keys"]
    gate.touch()
    assert short.results().wait(report_ref).ok
    wait_until(
        lambda: (
            ray.get(short.results().registry().sweep.remote()) >= 0
            and slow.key not in hook.results().stats()["keys"]
        ),
        30,
        "the finished, expired result to be swept",
    )


def test_the_connections_result_ttl_is_honoured(hook, ray_head, monkeypatch):
    """result_ttl_seconds of the connection sets the TTL of each of its results."""
    import ray

    short = short_ttl_hook(ray_head, monkeypatch, 1)
    ref, _ = run_task(short, "ttl", "short", "make", lambda: 1)
    keeps, _ = run_task(hook, "ttl", "long", "make", lambda: 2)
    wait_until(
        lambda: (
            ray.get(short.results().registry().sweep.remote()) >= 0
            and ref.key not in hook.results().stats()["keys"]
        ),
        30,
        "the 1-second result to expire",
    )
    assert keeps.key in hook.results().stats()["keys"]
    hook.results().release_run("ttl", "long")


def test_a_plain_task_may_not_pull_a_value_over_the_limit(hook, monkeypatch):
    """RayXComBackend refuses to copy a large result into an Airflow worker, naming @task.ray."""
    from ray_provider.exceptions import RayArgumentError
    from ray_provider.xcom import resolve

    ref, _ = run_task(hook, "limit", "r1", "make", make_array, 1)
    monkeypatch.setenv("AIRFLOW__RAY_PROVIDER__XCOM_MATERIALIZE_MAX_BYTES", str(512 * 1024))
    with pytest.raises(RayArgumentError, match=r"over the 512.0 KiB .* @task.ray"):
        resolve(ref.to_xcom())
    monkeypatch.setenv("AIRFLOW__RAY_PROVIDER__XCOM_MATERIALIZE_MAX_BYTES", str(2 * 1024 * 1024))
    assert float(resolve(ref.to_xcom()).sum()) == 1024 * 1024 / 8
    hook.results().release_run("limit", "r1")


def test_an_edited_reference_is_refused_by_the_xcom_backend(hook):
    from dataclasses import replace

    from ray_provider.exceptions import RayReferenceError
    from ray_provider.xcom import resolve

    ref, _ = run_task(hook, "edited", "r1", "make", lambda: "secret value")
    edited = replace(ref, task_id="other").to_xcom()  # the old signature, a changed field
    with pytest.raises(RayReferenceError, match="signature"):
        resolve(edited)
    assert resolve(ref.to_xcom()) == "secret value"
    hook.results().release_run("edited", "r1")
