"""Provider metadata read by Airflow's ProvidersManager (plain data, no imports of Ray)."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "ray-taskflow-provider",
        "name": "Ray",
        "description": "Run TaskFlow callables on Ray; results stay in the Ray object store.",
        "versions": ["0.1.0"],
        "connection-types": [
            {
                "hook-class-name": "ray_provider.hooks.ray.RayHook",
                "hook-name": "Ray",
                "connection-type": "ray",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port"],
                    "relabeling": {"host": "Ray address", "password": "Auth token"},
                    "placeholders": {
                        "host": "ray://ray-head:10001 | ray-head:6379 | local",
                        "password": "the cluster's RAY_AUTH_TOKEN (empty when auth is off)",
                    },
                },
                "conn-fields": {
                    "namespace": {
                        "label": "Ray namespace",
                        "description": "Namespace of the result registry actor.",
                        "schema": {"type": ["string", "null"], "default": "airflow"},
                    },
                    "runtime_env": {
                        "label": "Runtime environment (JSON)",
                        "description": 'Ray runtime_env for every task, e.g. {"pip": [...]}.',
                        "schema": {"type": ["object", "null"], "format": "json"},
                    },
                    "connect_timeout": {
                        "label": "Connect timeout (s)",
                        "description": "How long to wait for the cluster to answer.",
                        "schema": {"type": ["number", "null"], "minimum": 1, "default": 30},
                    },
                    "result_ttl_seconds": {
                        "label": "Result TTL (s)",
                        "description": "A result unused this long is freed (not while it runs).",
                        "schema": {"type": ["number", "null"], "minimum": 1},
                    },
                    "pending_timeout_seconds": {
                        "label": "Pending timeout (s)",
                        "description": "A task not started on a worker after this long fails.",
                        "schema": {"type": ["number", "null"], "minimum": 1, "default": 1800},
                    },
                },
            }
        ],
        "config": {
            "ray_provider": {
                "description": "Settings of the Ray TaskFlow provider.",
                "options": {
                    "deployment_key": {
                        "description": (
                            "Secret of this Airflow deployment (at least 32 characters, the "
                            "same in every Airflow process): signs checkpoint manifests and "
                            "XCom references, and names the deployment in result keys and "
                            "checkpoint paths. Checkpoints are refused without it."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "sensitive": True,
                        "example": None,
                        "default": None,
                    },
                    "xcom_materialize_max_bytes": {
                        "description": (
                            "Largest @task.ray result a plain task may pull into its process "
                            "through RayXComBackend; 0 for no limit."
                        ),
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "536870912",
                        "default": str(2 * 1024**3),
                    },
                },
            }
        },
        "hooks": [{"integration-name": "Ray", "python-modules": ["ray_provider.hooks.ray"]}],
        "task-decorators": [{"name": "ray", "class-name": "ray_provider.decorators.ray.ray_task"}],
    }
