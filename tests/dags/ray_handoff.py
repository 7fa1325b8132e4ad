"""@task.ray -> @task.ray -> plain @task; values, logs and XCom sizes are checked by the tests.

The same pipeline is built twice: through the driver connection (``ray_default``, HOST:6379)
and through the Ray Client connection (``ray_client``, ray://HOST:10001).
"""

from __future__ import annotations

import os

from airflow.sdk import dag, task


def build(dag_id: str, ray_conn_id: str):
    @dag(
        dag_id=dag_id,
        schedule=None,
        catchup=False,
        tags=["test"],
        render_template_as_native_obj=True,
    )
    def handoff():
        @task.ray(num_cpus=1, ray_conn_id=ray_conn_id)
        def produce(rows: int = 1000):
            import numpy as np
            import pandas as pd

            print(f"producing {rows} rows on the Ray worker")
            frame = pd.DataFrame(np.arange(rows * 3, dtype="float32").reshape(rows, 3))
            return frame.iloc[: rows // 2], frame.iloc[rows // 2 :]

        @task.ray(ray_conn_id=ray_conn_id)
        def combine(parts, run_id=None):
            import os

            import pandas as pd

            train, validation = parts
            assert isinstance(train, pd.DataFrame), type(train)
            return {
                "rows": len(train) + len(validation),
                "total": float(train.to_numpy().sum() + validation.to_numpy().sum()),
                "ray_pid": os.getpid(),
                "run_id": run_id,
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

    return handoff()


build("ray_handoff", "ray_default")
build("ray_client_handoff", "ray_client")
