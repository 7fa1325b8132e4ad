"""A modin DataFrame handed between tasks while the worker that built it is killed."""

from __future__ import annotations

from airflow.sdk import dag, task


@dag(schedule=None, catchup=False, tags=["test"])
def ray_modin():
    @task.ray
    def produce():
        import os

        import modin.pandas as mpd
        import numpy as np

        frame = mpd.DataFrame(np.arange(300_000, dtype="float64").reshape(100_000, 3))
        return {"frame": frame, "pid": os.getpid()}

    @task.ray(num_cpus=0)
    def kill_producer_worker(payload):
        import os
        import signal
        import time

        pid = payload["pid"]
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:  # Ray already reaped the idle worker: just as good
            return pid
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return pid
            time.sleep(0.1)
        raise RuntimeError(f"worker {pid} did not die")

    @task.ray
    def consume(payload, killed_pid):
        import modin.pandas as mpd

        frame = payload["frame"]
        return {
            "type": f"{type(frame).__module__}.{type(frame).__name__}",
            "is_modin": isinstance(frame, mpd.DataFrame),
            "total": float(frame.sum().sum()),
            "killed_pid": killed_pid,
        }

    @task
    def report(summary, payload):
        frame = payload["frame"]
        return {**summary, "plain_task_type": f"{type(frame).__module__}.{type(frame).__name__}"}

    payload = produce()
    killed = kill_producer_worker(payload)
    report(consume(payload, killed), payload)


ray_modin()
