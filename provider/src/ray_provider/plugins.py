"""Airflow plugin of the provider: registers the run-end listener, preloads for task processes."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from ray_provider import listeners
from ray_provider.preload import preload_if_forking_tasks

preload_if_forking_tasks()


class RayProviderPlugin(AirflowPlugin):
    name = "ray_provider"
    listeners = [listeners]
