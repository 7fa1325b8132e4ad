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
PRELOAD_MODULES = "preload_modules"
DEFERRABLE = "deferrable"
DEFERRABLE_POLL_SECONDS = "deferrable_poll_seconds"
CLUSTER_TEMPLATE = "cluster_template"
CLUSTER_NAMESPACE = "cluster_namespace"

# A plain task pulling more than this from Ray is refused (0 in the configuration: no limit).
DEFAULT_MATERIALIZE_LIMIT = 2 * 1024**3
# What the scheduler imports once for the task processes it forks (see ``preload``).
DEFAULT_PRELOAD_MODULES = ("pandas", "ray")
# How often a deferred @task.ray's trigger asks the registry about its Ray task.
DEFAULT_DEFERRABLE_POLL_SECONDS = 2.0
# The ConfigMap the ray-platform chart renders its per-run cluster template into (release
# "ray-platform"); the chart sets the option to its own name for other releases.
DEFAULT_CLUSTER_TEMPLATE = "ray-platform-run-cluster"


def _option(description: str, type_: str, default: str | None, example: str | None) -> dict:
    return {
        "description": description,
        "version_added": "0.2.0",
        "type": type_,
        "example": example,
        "default": default,
    }


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
                PRELOAD_MODULES: _option(
                    "Modules the scheduler (or a Celery worker) imports once, so every task "
                    "process it forks has them for free; comma-separated, empty to turn it "
                    "off. A list that would make forked processes draw the same Ray IDs is "
                    "refused at start with a warning in the scheduler log.",
                    "string",
                    ",".join(DEFAULT_PRELOAD_MODULES),
                    "pandas,ray,higgs.model",
                ),
                DEFERRABLE: _option(
                    "Default of @task.ray(deferrable=...): submit the callable, then wait "
                    "in the triggerer instead of holding a worker slot (needs a running "
                    "airflow triggerer).",
                    "boolean",
                    "False",
                    "True",
                ),
                DEFERRABLE_POLL_SECONDS: _option(
                    "How often a deferred @task.ray's trigger asks Ray about its task and "
                    "copies its new output to the task log.",
                    "float",
                    str(DEFAULT_DEFERRABLE_POLL_SECONDS),
                    "5",
                ),
                CLUSTER_TEMPLATE: _option(
                    "Default template of RayClusterSetupOperator: the name of a ConfigMap "
                    "holding a RayCluster under key raycluster.yaml (the ray-platform chart "
                    "renders one with perRunClusters.enabled), or the path of a RayCluster "
                    "YAML file.",
                    "string",
                    DEFAULT_CLUSTER_TEMPLATE,
                    "/opt/airflow/dags/gpu-cluster.yaml",
                ),
                CLUSTER_NAMESPACE: _option(
                    "Kubernetes namespace of per-run Ray clusters and their template; empty: "
                    "the namespace of the Airflow pod (or the kubeconfig context's).",
                    "string",
                    "",
                    "ray",
                ),
            },
        }
    }
