"""Platform check: a checkpointed result outlives the Ray cluster that computed it.

produce (checkpoint=True) -> hold -> consume -> report. By default ``hold`` passes at once and the
run checks the store round trip. With ``{"hold": true}`` the run waits at ``hold`` until the
Airflow Variable ``checkpoint_restore_check_release`` names its run id: `make e2e` uses that to
delete the Ray head pod between producer and consumer, wait for KubeRay to bring a new head up,
then release the run, so ``consume`` finds the Ray object gone and the provider restores it from
the checkpoint store (the task log says "restored ..."). ``report`` fails unless the consumer saw
exactly the value the producer made.
"""

from __future__ import annotations

import hashlib
import os
import time

from airflow.sdk import Param, Variable, dag, task

RAY_CONN_ID = os.environ.get("HIGGS_RAY_CONN_ID", "ray_default")
CHECKPOINT_CONN_ID = os.environ.get("HIGGS_CHECKPOINT_CONN_ID", "s3_checkpoints")
RELEASE_VARIABLE = "checkpoint_restore_check_release"


def digest(frame) -> str:
    """SHA-256 of a frame's values, so producer and consumer compare what they hold."""
    import pandas as pd

    hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


@dag(
    dag_id="checkpoint_restore_check",
    schedule=None,
    catchup=False,
    params={
        "rows": Param(200_000, type="integer", minimum=1),
        "hold": Param(False, type="boolean", description="wait for the release Variable"),
        "hold_timeout": Param(1800, type="integer", minimum=1, description="seconds"),
    },
    tags=["example", "ray", "checkpoint"],
    # A lost object is restored by the consumer itself: no retry is needed (or wanted: a retry
    # would hide a restore that failed).
    default_args={"retries": 0},
)
def checkpoint_restore_check():
    @task.ray(ray_conn_id=RAY_CONN_ID, checkpoint=True, checkpoint_conn_id=CHECKPOINT_CONN_ID)
    def produce(params=None):
        import numpy as np
        import pandas as pd

        rng = np.random.default_rng(7)
        frame = pd.DataFrame(rng.random((params["rows"], 8)), columns=[f"f{i}" for i in range(8)])
        print(f"produced {len(frame):,} rows, sha256 {digest(frame)}")
        return frame

    @task
    def hold(run_id=None, params=None) -> str:
        """Wait (polling, with a deadline) until the release Variable names this run."""
        if not params["hold"]:
            return "not held"
        deadline = time.monotonic() + params["hold_timeout"]
        print(f"holding until Variable {RELEASE_VARIABLE} = {run_id}", flush=True)
        seen = None
        while (value := Variable.get(RELEASE_VARIABLE, default=None)) != run_id:
            if value != seen:
                print(f"{RELEASE_VARIABLE} = {value!r}: not this run, still holding", flush=True)
                seen = value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{RELEASE_VARIABLE} was not set to {run_id} within the timeout")
            time.sleep(2)
        return "released"

    @task.ray(ray_conn_id=RAY_CONN_ID)
    def consume(frame, released):
        print(f"consumed {len(frame):,} rows ({released})")
        return {"rows": len(frame), "sha256": digest(frame)}

    @task
    def report(seen, frame):
        expected = digest(frame)
        if seen["sha256"] != expected:
            raise ValueError(f"consumer saw {seen['sha256']}, producer made {expected}")
        print(f"checkpoint round trip ok: {seen['rows']:,} rows, sha256 {expected}")
        return seen

    frame = produce()
    released = hold()
    frame >> released
    report(consume(frame, released), frame)


checkpoint_restore_check()
