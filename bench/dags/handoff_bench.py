"""Handoff benchmark DAGs: one frame from a producer task to consumer tasks.

``bench_handoff_ray``: ``@task.ray`` -> ``@task.ray`` (the frame stays in the Ray object store;
XCom holds a reference). ``bench_handoff_xcom``: plain ``@task`` -> plain ``@task`` (the frame
goes through Airflow's own XCom: Parquet, hex-encoded into JSON, in the metadata database).

Each run has one producer and ``BENCH_HANDOFF_CONSUMERS`` consumers (default 3) of its
result, one after the other, each in its own Airflow task process: the repeats of one size.
Each consumer prints one ``BENCH {...}`` line with the wall-clock time at which its callable
first held the value; the benchmark reads it from the task log.
"""

from __future__ import annotations

import json
import os
import time

from airflow.sdk import chain, dag, task
from handoff_frame import make_frame

ROWS = "{{ dag_run.conf.get('rows', 1000) }}"
CONSUMERS = int(os.environ.get("BENCH_HANDOFF_CONSUMERS", "3"))


def _received(frame) -> dict:
    """Called first thing in a consumer: the moment it has the value, and what it got."""
    entered = time.time()
    summary = {"entered": entered, "rows": int(frame.shape[0]), "columns": int(frame.shape[1])}
    print("BENCH " + json.dumps(summary))
    return summary


@dag(schedule=None, catchup=False, max_active_runs=1, render_template_as_native_obj=True)
def bench_handoff_ray():
    @task.ray(num_cpus=1)
    def produce(rows: int):
        return make_frame(rows)

    @task.ray(num_cpus=1)
    def consume(frame):
        return _received(frame)

    frame = produce(rows=ROWS)
    chain(frame, *(consume.override(task_id=f"consume_{i}")(frame) for i in range(CONSUMERS)))


@dag(schedule=None, catchup=False, max_active_runs=1, render_template_as_native_obj=True)
def bench_handoff_xcom():
    @task
    def produce(rows: int):
        return make_frame(rows)

    @task
    def consume(frame):
        return _received(frame)

    frame = produce(rows=ROWS)
    chain(frame, *(consume.override(task_id=f"consume_{i}")(frame) for i in range(CONSUMERS)))


bench_handoff_ray()
bench_handoff_xcom()
