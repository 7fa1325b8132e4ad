"""Tasks that must fail with clear messages: unknown connection, a connection of another type,
an unserializable result, ``.expand()`` over a Ray result that is no list, and a forged XCom
reference."""

from __future__ import annotations

from airflow.sdk import dag, task


@dag(schedule=None, catchup=False, tags=["test"], default_args={"retries": 0})
def ray_errors():
    @task.ray(ray_conn_id="no_such_ray_connection")
    def unknown_connection():
        return 1

    @task.ray(ray_conn_id="s3_checkpoints")
    def wrong_connection_type():
        return 1

    @task.ray
    def unserializable():
        import threading

        return threading.Lock()

    @task.ray(resources={"tpu_v9": 1})
    def needs_what_no_node_has():
        return 1

    @task.ray
    def twenty_items():
        return 20  # a count, not the items: nothing to map over

    @task
    def each(item):
        return item

    @task
    def forged_reference(run_id=None):
        """What someone who can edit an XCom row could write: a reference, unsigned."""
        return {
            "__ray_provider_result__": 2,
            "deployment": "someone",
            "dag_id": "ray_errors",
            "run_id": run_id,
            "task_id": "twenty_items",
            "map_index": -1,
            "generation": "0" * 32,
            "namespace": "airflow",
            "ray_conn_id": "ray_default",
            "signature": "0" * 64,
        }

    @task.ray
    def consume(value):
        return value

    unknown_connection()
    wrong_connection_type()
    unserializable()
    needs_what_no_node_has()
    each.expand(item=twenty_items())
    consume(forged_reference())


ray_errors()
