"""Provider metadata read by Airflow's ProvidersManager.

Everything here comes from the module that owns it: the version from ``ray_provider``, the
connection form from ``hooks.ray_connection_form``, the config section from ``config_options``.
None of them imports Ray, because every Airflow process reads this at start-up.
"""

from __future__ import annotations

from typing import Any

from ray_provider import __version__
from ray_provider.config_options import provider_config
from ray_provider.hooks import ray_connection_form as form


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "ray-taskflow-provider",
        "name": "Ray",
        "description": "Run TaskFlow callables on Ray; results stay in the Ray object store.",
        "versions": [__version__],
        "connection-types": [
            {
                "hook-class-name": "ray_provider.hooks.ray.RayHook",
                "hook-name": "Ray",
                "connection-type": form.CONNECTION_TYPE,
                "ui-field-behaviour": form.provider_info_behaviour(),
                "conn-fields": form.conn_fields(),
            }
        ],
        "config": provider_config(),
        "hooks": [{"integration-name": "Ray", "python-modules": ["ray_provider.hooks.ray"]}],
        "operators": [
            {"integration-name": "Ray", "python-modules": ["ray_provider.operators.ray_job"]}
        ],
        "triggers": [
            {
                "integration-name": "Ray",
                "python-modules": [
                    "ray_provider.triggers.ray_task",
                    "ray_provider.triggers.ray_job",
                ],
            }
        ],
        "task-decorators": [{"name": "ray", "class-name": "ray_provider.decorators.ray.ray_task"}],
        "extra-links": ["ray_provider.links.RayDashboardLink", "ray_provider.links.RayJobLink"],
    }
