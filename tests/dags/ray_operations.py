"""DAGs for day-to-day operation: live logs, the dashboard link, deferrable waits.

Each Ray callable prints, then holds its worker until a gate file named in the run's conf
exists, so the test can look at the running (or deferred) task and then let it finish.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task


def hold_until(gate: str, timeout: float = 300) -> None:
    """Block until ``gate`` exists (the test opens it once it has seen what it waits for)."""
    import time
    from pathlib import Path

    deadline = time.monotonic() + timeout
    while not Path(gate).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {gate} never opened")
        time.sleep(0.05)


@dag(schedule=None, catchup=False, tags=["test"], default_args={"retries": 0})
def ray_live_log():
    @task.ray
    def train(params=None):
        import sys

        for round_ in range(1, 4):
            print(f"[{round_}] train-logloss:{0.7 - round_ / 10:.3f}")
        print("still warming up", file=sys.stderr)
        hold_until(params["gate"])
        print("round 4 after the gate")
        return 4

    @task
    def report(rounds):
        print(f"rounds: {rounds}")
        return rounds

    report(train())


@dag(schedule=None, catchup=False, tags=["test"], default_args={"retries": 0})
def ray_deferred():
    @task.ray(deferrable=True)
    def train(params=None):
        print("deferred round 1")
        hold_until(params["gate"])
        print("deferred round 2")
        return {"rounds": 2}

    @task
    def report(result):
        return result["rounds"]

    report(train())


@dag(schedule=None, catchup=False, tags=["test"], default_args={"retries": 0})
def ray_deferred_timeout():
    @task.ray(deferrable=True, execution_timeout=timedelta(seconds=12))
    def train_forever(params=None):
        import os
        from pathlib import Path

        Path(params["pid_file"]).write_text(str(os.getpid()))
        print("training that never ends")
        hold_until(params["gate"], timeout=3600)

    train_forever()


ray_live_log()
ray_deferred()
ray_deferred_timeout()
