"""A short-lived Ray driver for keeper tests: ``python -m tests.support.registry_driver ACTION``.

Each call is its own process (its own Ray job, which ends when it exits), like an Airflow task
process. It connects through ``RayHook`` (``AIRFLOW_CONN_RAY_DEFAULT``) and prints one JSON line.

Actions: ``produce RUN`` (a result held under run RUN; creates the registry if there is none),
``release RUN``, ``worker_pid`` (the PID of the Ray worker that ran a task), ``registry_job``,
``handover`` (retire the idle registry, replace it from a thread while a task is submitted).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

import ray

from ray_provider.hooks.ray import RayHook
from ray_provider.runtime.registry import current_registry, get_or_create_registry, kill_registry
from tests.support.registry import run_task


def _pid() -> int:
    return os.getpid()


def _handover(hook: RayHook, run_id: str) -> dict:
    """Retire the idle registry, submit a task, and replace the registry while it waits.

    Ordered by events, not by time. A refused submission makes the client look the registry up
    again (``get_or_create_registry``, seen by the spy below): its first look finds the retired
    one again (refused again), and at its second look the spy holds it until the replacement
    is made, so the replacement happens while the submission is known to be waiting between
    two tries, and the old registry refuses every submission until then.
    """
    from ray_provider.client import results as results_module

    namespace = hook.settings.namespace
    old = hook.results().registry()
    assert ray.get(old.retire_if_idle.remote()), "the registry was not idle"
    looks: list[int] = []
    waiting = threading.Event()  # refused twice: the client waits in its next look-up
    replaced = threading.Event()
    look_up = results_module.get_or_create_registry

    def looking_again(*args: Any, **kwargs: Any) -> Any:
        looks.append(1)
        if len(looks) >= 2:
            waiting.set()
            assert replaced.wait(timeout=120), "the registry was not replaced"
        return look_up(*args, **kwargs)

    def replace() -> None:
        if waiting.wait(timeout=120):
            kill_registry(namespace)
            get_or_create_registry(namespace)
        replaced.set()

    results_module.get_or_create_registry = looking_again
    replacer = threading.Thread(target=replace, daemon=True)
    replacer.start()
    try:
        _, report = run_task(hook, "keeper", run_id, "after_handover", _pid)
    finally:
        results_module.get_or_create_registry = look_up
        waiting.set()  # never leave the replacer waiting
    replacer.join(timeout=120)
    try:
        ray.get(old.job_id.remote())
        old_gone = False
    except ray.exceptions.RayActorError:
        old_gone = True
    held = ray.get(current_registry(namespace).stats.remote())["results"]
    hook.results().release_run("keeper", run_id)
    return {
        "ok": report.ok,
        "looks_after_refusal": len(looks),  # each one follows a refusal by the retired registry
        "old_gone": old_gone,
        "held_by_replacement": held,
    }


def main(action: str, run_id: str = "r") -> dict:
    hook = RayHook()
    if action == "produce":
        ref, report = run_task(hook, "keeper", run_id, "produce", _pid)
        return {"ok": report.ok, "job": ray.get(hook.results().registry().job_id.remote())}
    if action == "release":
        return {"released": hook.results().release_run("keeper", run_id)}
    if action == "worker_pid":
        ref, report = run_task(hook, "keeper", run_id, "pid", _pid)
        pid = hook.results().materialize(ref)
        hook.results().release_run("keeper", run_id)
        return {"pid": pid}
    if action == "registry_job":
        return {"job": ray.get(hook.results().registry().job_id.remote())}
    if action == "handover":
        return _handover(hook, run_id)
    raise SystemExit(f"unknown action {action!r}")


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])), flush=True)
