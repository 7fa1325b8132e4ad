"""The ``[ray_provider]`` section of Airflow's configuration: names, defaults and help text.

Plain data (no Ray, no Airflow import), so ``get_provider_info`` can publish it without loading
anything heavy, and the modules that read an option (``client.deployment``, ``xcom``) take its
name and default from here instead of repeating them.
"""

from __future__ import annotations

from typing import Any

SECTION = "ray_provider"
DEPLOYMENT_KEY = "deployment_key"
XCOM_MATERIALIZE_MAX_BYTES = "xcom_materialize_max_bytes"

# A plain task pulling more than this from Ray is refused (0 in the configuration: no limit).
DEFAULT_MATERIALIZE_LIMIT = 2 * 1024**3


def provider_config() -> dict[str, Any]:
    """The section as provider info's ``config`` (what ``airflow config list`` documents)."""
    return {
        SECTION: {
            "description": "Settings of the Ray TaskFlow provider.",
            "options": {
                DEPLOYMENT_KEY: {
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
                XCOM_MATERIALIZE_MAX_BYTES: {
                    "description": (
                        "Largest @task.ray result a plain task may pull into its process "
                        "through RayXComBackend; 0 for no limit."
                    ),
                    "version_added": "0.1.0",
                    "type": "integer",
                    "example": "536870912",
                    "default": str(DEFAULT_MATERIALIZE_LIMIT),
                },
            },
        }
    }
