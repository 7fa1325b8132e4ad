"""@task.ray -> @task.ray -> plain @task; values, logs and XCom sizes are checked by the tests."""

from __future__ import annotations

import os

from airflow.sdk import dag, task


@dag(schedule=None, catchup=False, tags=["test"], render_template_as_native_obj=True)
def ray_handoff():
    @task.ray(num_cpus=1)
    def produce(rows: int = 1000):
        import numpy as np
        import pandas as pd

        print(f"producing {rows} rows on the Ray worker")
        frame = pd.DataFrame(np.arange(rows * 3, dtype="float32").reshape(rows, 3))
        return frame.iloc[: rows // 2], frame.iloc[rows // 2 :]

    @task.ray
    def combine(parts, params=None):
        import os

        import pandas as pd

        train, validation = parts
        assert isinstance(train, pd.DataFrame), type(train)
        return {
            "rows": len(train) + len(validation),
            "total": float(train.to_numpy().sum() + validation.to_numpy().sum()),
            "ray_pid": os.getpid(),
            "params_seen": dict(params or {}),
        }

    @task
    def report(summary, parts):
        train, validation = parts
        return {
            "summary": summary,
            "parts_types": [type(train).__name__, type(validation).__name__],
            "report_pid": os.getpid(),
        }

    parts = produce(rows="{{ dag_run.conf.get('rows', 1000) }}")
    report(combine(parts), parts)


ray_handoff()
