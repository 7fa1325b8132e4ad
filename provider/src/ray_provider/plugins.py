"""Airflow plugin of the provider: registers the run-end listener."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from ray_provider import listeners


class RayProviderPlugin(AirflowPlugin):
    name = "ray_provider"
    listeners = [listeners]
