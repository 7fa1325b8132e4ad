"""``RayHook``: the Airflow connection to a Ray cluster.

It turns the ``ray`` connection into settings, connects, and hands out the result API
(``results()``, a :class:`~ray_provider.client.results.RayResults`) through which the operator,
the XCom backend and the run-end release reach the result registry.
"""

from __future__ import annotations

from typing import Any

import ray
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from ray_provider.client.results import RayResults
from ray_provider.client.settings import RaySettings, settings_from_connection
from ray_provider.exceptions import RayConnectionNotFoundError


class RayHook(BaseHook):
    """Connect to a Ray cluster and keep task results in its object store.

    The connection's host is the address: ``ray://HOST:10001`` (Ray Client), ``HOST:6379``
    (join as a driver) or ``local`` (reuse or start a Ray head on this machine). The password is
    the cluster's auth token. The extras (``namespace``, ``runtime_env``, ``connect_timeout``,
    ``result_ttl_seconds``, ``pending_timeout_seconds``, ``local_port``) and the form are
    defined once, in ``ray_provider.hooks.ray_connection_form``. ``RAY_URL`` in the
    environment overrides the address.

    A missing connection is an error that shows how to define one: a local, unauthenticated
    Ray head is started only for a connection that asks for it (host ``local``).

    .. code-block:: python

        hook = RayHook("ray_default")
        print(hook.results().stats())
    """

    conn_name_attr = "ray_conn_id"
    default_conn_name = "ray_default"
    conn_type = "ray"
    hook_name = "Ray"

    def __init__(
        self,
        ray_conn_id: str = default_conn_name,
        *,
        cluster: tuple[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        """:param cluster: ``(address, dashboard_url)`` of a per-run cluster to use instead of
        the connection's own (the token and namespace stay the connection's)."""
        super().__init__(**kwargs)
        self.ray_conn_id = ray_conn_id
        self.cluster = cluster
        self._settings: RaySettings | None = None
        self._results: RayResults | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The form for Airflow < 3.2 (newer Airflow reads it from provider info)."""
        from ray_provider.hooks.ray_connection_form import hook_behaviour

        return hook_behaviour()

    @property
    def settings(self) -> RaySettings:
        if self._settings is None:
            try:
                conn = self.get_connection(self.ray_conn_id)
            except AirflowNotFoundException as exc:
                raise RayConnectionNotFoundError(
                    f"No Airflow connection {self.ray_conn_id!r}. Create it, e.g. "
                    f'AIRFLOW_CONN_{self.ray_conn_id.upper()}=\'{{"conn_type": "ray", '
                    f'"host": "ray://HOST:10001", "password": "TOKEN"}}\' or `airflow '
                    f"connections add {self.ray_conn_id} --conn-type ray --conn-host "
                    "ray://HOST:10001`, or pass the id of an existing connection as "
                    'ray_conn_id. For a Ray head on this machine use "host": "local" '
                    "(explicitly: it is not authenticated)."
                ) from exc
            settings = settings_from_connection(conn, self.ray_conn_id)
            if self.cluster:
                settings = settings.on_cluster(*self.cluster)
            self._settings = settings
        return self._settings

    def get_conn(self) -> RaySettings:
        """Connect (once per process) and return the settings in use."""
        self.connect()
        return self.settings

    def connect(self) -> None:
        self.results().connect()

    def results(self) -> RayResults:
        """The result API on this connection (one per hook, so the registry is looked up once)."""
        if self._results is None:
            self._results = RayResults(self.settings, self.ray_conn_id, log=self.log)
        return self._results

    def test_connection(self) -> tuple[bool, str]:
        """Used by the UI's Test button: connect and report the cluster's resources."""
        try:
            self.connect()
            resources = ray.cluster_resources()
        except Exception as exc:
            return False, str(exc)
        return True, (
            f"Connected to Ray {ray.__version__} at {self.settings.address}: "
            f"{resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs"
        )


def hook_for_task(ray_conn_id: str, ray_cluster: Any, ti: Any) -> RayHook:
    """The hook of a task that may run on a per-run cluster (its ``ray_cluster`` argument).

    ``ray_cluster`` is the setup task's signed handle (checked against this deployment and the
    task's DAG run before its address is used), a Ray address written in the DAG, or None.
    """
    from ray_provider.client.deployment import current
    from ray_provider.client.run_cluster import resolve_cluster

    deployment = current()
    cluster = resolve_cluster(
        ray_cluster,
        key=deployment.key,
        deployment=deployment.id,
        dag_id=ti.dag_id,
        run_id=ti.run_id,
    )
    return RayHook(ray_conn_id, cluster=cluster)
