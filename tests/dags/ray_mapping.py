"""Dynamic task mapping over @task.ray results: items stay in Ray, one reference per item.

``make_items`` returns 20 arrays; ``square_sum`` maps over them (each reads its own array
from the object store), ``double`` maps over square_sum's mapped output, and the results are
read by plain tasks (a plain mapped task over the list, a total over the mapped outputs) and
by a @task.ray total that gets every mapped output at once. A dict
result maps over its (key, value) pairs.
"""

from __future__ import annotations

from airflow.sdk import dag, task

ITEMS = 20
ROWS = 10_000


@dag(schedule=None, catchup=False, tags=["test"], default_args={"retries": 0})
def ray_mapping():
    @task.ray
    def make_items():
        import numpy as np

        return [np.full(ROWS, i, dtype=np.int64) for i in range(ITEMS)]

    @task.ray
    def square_sum(values):
        import numpy as np

        assert isinstance(values, np.ndarray), type(values)
        print(f"item of {values.nbytes} bytes, first value {values[0]}")
        return int((values**2).sum())

    @task.ray
    def double(value):
        return value * 2

    @task
    def total(values):
        return sum(values)

    @task.ray
    def ray_total(values):  # every mapped output, as a list, read in Ray
        assert isinstance(values, list), type(values)
        return sum(values)

    @task
    def plain_first(values):
        return int(values[0])

    @task.ray
    def make_scores():
        return {"alpha": 1, "beta": 2, "gamma": 3}

    @task.ray
    def label(pair):
        name, score = pair
        return f"{name}={score * 10}"

    @task
    def labels(values):
        return sorted(values)

    items = make_items()
    doubled = double.expand(value=square_sum.expand(values=items))
    total(doubled)
    ray_total(doubled)
    plain_first.expand(values=items)
    labels(label.expand(pair=make_scores()))


ray_mapping()
