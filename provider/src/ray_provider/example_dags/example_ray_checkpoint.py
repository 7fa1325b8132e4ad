"""``checkpoint=True``: a result also goes to an S3-compatible store and comes back from it.

``train`` writes its result to the store of the ``s3_checkpoints`` connection (an ``aws``
connection with ``endpoint_url`` and ``checkpoint_bucket`` in its extra) as well as keeping it
in Ray. If Ray loses the value before ``score`` reads it (a restarted head, a lost node), it is
restored from the checkpoint and the log says so. Checkpoints need the deployment key
(``AIRFLOW__RAY_PROVIDER__DEPLOYMENT_KEY``).
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
def example_ray_checkpoint():
    @task.ray(num_cpus=1, checkpoint=True, checkpoint_conn_id="s3_checkpoints")
    def train(rows: int = 10_000) -> dict[str, list[float]]:
        import random

        rng = random.Random(0)
        xs = [rng.random() for _ in range(rows)]
        ys = [2.0 * x + 1.0 + rng.gauss(0, 0.01) for x in xs]
        mean_x, mean_y = sum(xs) / rows, sum(ys) / rows
        slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum(
            (x - mean_x) ** 2 for x in xs
        )
        return {"coefficients": [slope, mean_y - slope * mean_x]}

    @task.ray
    def score(model: dict[str, list[float]]) -> float:
        slope, intercept = model["coefficients"]
        return slope * 0.5 + intercept

    @task
    def report(prediction: float) -> None:
        print(f"prediction at x=0.5: {prediction:.3f} (expected about 2.0)")

    report(score(train()))


example_ray_checkpoint()
