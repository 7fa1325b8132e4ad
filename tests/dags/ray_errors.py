"""Tasks that must fail with clear messages: unknown connection, unserializable result."""

from __future__ import annotations

from airflow.sdk import dag, task


@dag(schedule=None, catchup=False, tags=["test"], default_args={"retries": 0})
def ray_errors():
    @task.ray(ray_conn_id="no_such_ray_connection")
    def unknown_connection():
        return 1

    @task.ray
    def unserializable():
        import threading

        return threading.Lock()

    unknown_connection()
    unserializable()


ray_errors()
