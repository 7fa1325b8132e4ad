"""``@task.ray`` -> ``@task.ray`` -> plain ``@task``: the result stays in the Ray object store.

``make_frame`` runs on a Ray worker and returns a frame; XCom holds only a small signed
reference. ``column_means`` is submitted with the frame as its argument, so the data goes from
the object store to the next Ray task without passing through the Airflow worker. ``report`` is
a plain task: with ``AIRFLOW__CORE__XCOM_BACKEND=ray_provider.xcom.RayXComBackend`` it receives
the real value.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "ray"],
)
def example_ray_handoff():
    @task.ray(num_cpus=1, memory="1GiB")
    def make_frame(rows: int = 100_000):
        import numpy as np
        import pandas as pd

        print(f"making {rows} rows on a Ray worker (this line shows in the Airflow task log)")
        rng = np.random.default_rng(0)
        return pd.DataFrame(rng.random((rows, 4)), columns=list("abcd"))

    @task.ray
    def column_means(frame) -> dict[str, float]:
        return {name: float(value) for name, value in frame.mean().items()}

    @task
    def report(means: dict[str, float]) -> None:
        for name, value in means.items():
            print(f"{name}: {value:.4f}")

    report(column_means(make_frame()))


example_ray_handoff()
