"""make e2e's check of astro-provider-ray's per-run cluster DAGs: its operators, unchanged.

Written as that provider's users write it: ``SetupRayCluster`` from a RayCluster YAML, a
``@ray.task`` and a ``SubmitRayJob`` that find the cluster through ``xcom_task_key``, and a
``DeleteRayCluster``. The YAML is the chart's per-run template (the check copies it from the
chart's ConfigMap to ``ASTRO_CLUSTER_YAML`` in the scheduler pod, where the tasks run). Each
Ray task and the job print the pod they ran on; with ``{"fail": true}`` the job fails, and
``DeleteRayCluster`` must still delete the cluster.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import dag

from ray_provider.decorators import ray
from ray_provider.operators import DeleteRayCluster, SetupRayCluster, SubmitRayJob

CLUSTER_YAML = os.environ.get("ASTRO_CLUSTER_YAML", "/tmp/astro-raycluster.yaml")
SETUP = "SetupRayCluster"


@ray.task(config={"conn_id": "ray_default", "num_cpus": 1, "xcom_task_key": f"{SETUP}.dashboard"})
def where() -> str:
    import socket

    print(f"where ran on pod {socket.gethostname()}")
    return socket.gethostname()


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"fail": False},
    tags=["e2e", "ray", "astro"],
)
def astro_run_cluster_check():
    setup = SetupRayCluster(task_id=SETUP, conn_id="ray_default", ray_cluster_yaml=CLUSTER_YAML)
    job = SubmitRayJob(
        task_id="SubmitRayJob",
        conn_id="ray_default",
        entrypoint=(
            "python -c \"import socket, sys; print('job ran on pod', socket.gethostname()); "
            'sys.exit(1 if {{ params.fail | int }} else 0)"'
        ),
        runtime_env={},
        xcom_task_key=f"{SETUP}.dashboard",
        job_timeout_seconds=600,
        poll_interval=5,
    )
    delete = DeleteRayCluster(
        task_id="DeleteRayCluster", conn_id="ray_default", ray_cluster_yaml=CLUSTER_YAML
    )
    setup >> [where(), job] >> delete


astro_run_cluster_check()
