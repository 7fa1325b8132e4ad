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
import time

import ray

from ray_provider.hooks.ray import RayHook
from ray_provider.runtime.registry import get_or_create_registry, kill_registry
from tests.support.registry import run_key_of, run_task


def _pid() -> int:
    return os.getpid()


def main(action: str, run_id: str = "r") -> dict:
    hook = RayHook()
    if action == "produce":
        ref, report = run_task(hook, "keeper", run_id, "produce", _pid)
        return {"ok": report.ok, "job": ray.get(hook.registry().job_id.remote())}
    if action == "release":
        return {"released": hook.release_run(run_key_of("keeper", run_id))}
    if action == "worker_pid":
        ref, report = run_task(hook, "keeper", run_id, "pid", _pid)
        pid = hook.materialize(ref)
        hook.release_run(run_key_of("keeper", run_id))
        return {"pid": pid}
    if action == "registry_job":
        return {"job": ray.get(hook.registry().job_id.remote())}
    if action == "handover":
        old = hook.registry()
        assert ray.get(old.retire_if_idle.remote()), "the registry was not idle"

        def replace() -> None:
            time.sleep(1.0)
            kill_registry(hook.settings.namespace)
            get_or_create_registry(hook.settings.namespace)

        replacer = threading.Thread(target=replace)
        replacer.start()
        started = time.monotonic()
        ref, report = run_task(hook, "keeper", run_id, "after_handover", _pid)
        waited = time.monotonic() - started
        replacer.join()
        hook.release_run(run_key_of("keeper", run_id))
        return {"ok": report.ok, "waited": waited}
    raise SystemExit(f"unknown action {action!r}")


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])), flush=True)
