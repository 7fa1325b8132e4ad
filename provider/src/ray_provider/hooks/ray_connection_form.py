"""The ``ray`` connection's form in the Airflow UI, defined once.

Airflow 3.2+ reads the form from provider info (``ui-field-behaviour`` and ``conn-fields`` in
``get_provider_info``) without importing the hook; older Airflow asks
``RayHook.get_ui_field_behaviour``. Both take it from here, so the two cannot drift apart, and
the defaults it shows are defined here and applied by ``client.settings``.

Plain data: no Ray and no Airflow import. Airflow calls ``get_provider_info`` while its own
configuration loads, so importing Airflow from here would be a circular import, and Ray would
slow every Airflow process's start.
"""

from __future__ import annotations

import copy
from typing import Any

from ray_provider.runtime.keys import DEFAULT_NAMESPACE, DEFAULT_RESULT_TTL_SECONDS

CONNECTION_TYPE = "ray"

# Defaults of the connection's fields (client.settings applies them).
DEFAULT_CLIENT_PORT = 10001
DEFAULT_GCS_PORT = 6379
DEFAULT_CONNECT_TIMEOUT = 30.0
# How long a task may wait for a worker with its resources before it fails (an autoscaler
# bringing up a GPU node takes minutes).
DEFAULT_PENDING_TIMEOUT = 1800.0

# Standard fields the connection does not use: the address carries host and port.
HIDDEN_FIELDS: tuple[str, ...] = ("schema", "login", "port")
RELABELING: dict[str, str] = {"host": "Ray address", "password": "Auth token"}
PLACEHOLDERS: dict[str, str] = {
    "host": "ray://ray-head:10001 | ray-head:6379 | local",
    "password": "the cluster's RAY_AUTH_TOKEN (leave empty if auth is off)",
    "extra": '{"namespace": "airflow", "runtime_env": {"pip": []}}',
}

# Extra fields (stored in the connection's extra JSON), each a JSON Schema for the UI widget.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "namespace": {
        "label": "Ray namespace",
        "description": "Namespace of the result registry actor.",
        "schema": {"type": ["string", "null"], "default": DEFAULT_NAMESPACE},
    },
    "runtime_env": {
        "label": "Runtime environment (JSON)",
        "description": 'Ray runtime_env for every task, e.g. {"pip": [...]}.',
        "schema": {"type": ["object", "null"], "format": "json"},
    },
    "connect_timeout": {
        "label": "Connect timeout (s)",
        "description": "How long to wait for the cluster to answer.",
        "schema": {"type": ["number", "null"], "minimum": 1, "default": DEFAULT_CONNECT_TIMEOUT},
    },
    "result_ttl_seconds": {
        "label": "Result TTL (s)",
        "description": (
            "A result unused this long is freed (not while it runs); default "
            f"{DEFAULT_RESULT_TTL_SECONDS} (7 days)."
        ),
        "schema": {"type": ["number", "null"], "minimum": 1},
    },
    "pending_timeout_seconds": {
        "label": "Pending timeout (s)",
        "description": "A task not started on a worker after this long fails.",
        "schema": {"type": ["number", "null"], "minimum": 1, "default": DEFAULT_PENDING_TIMEOUT},
    },
    "local_port": {
        "label": "Local Ray port",
        "description": (
            f"Only with address 'local': the GCS port of the Ray head on 127.0.0.1 to reuse "
            f"or start (default {DEFAULT_GCS_PORT})."
        ),
        "schema": {"type": ["integer", "null"], "minimum": 1, "maximum": 65535},
    },
    "jobs_api_url": {
        "label": "Ray Jobs API URL",
        "description": (
            "The dashboard as Airflow's workers reach it, for RaySubmitJobOperator "
            "(default: the address's host on port 8265)."
        ),
        "schema": {"type": ["string", "null"], "format": "url"},
    },
    "num_cpus": {
        "label": "Default num_cpus",
        "description": "CPUs of every @task.ray task of this connection that sets none (else 1).",
        "schema": {"type": ["number", "null"], "minimum": 0},
    },
    "num_gpus": {
        "label": "Default num_gpus",
        "description": "GPUs of every @task.ray task of this connection that sets none.",
        "schema": {"type": ["number", "null"], "minimum": 0},
    },
    "dashboard_url": {
        "label": "Ray dashboard URL",
        "description": (
            "The dashboard as a browser reaches it, for the task's 'Ray dashboard' link "
            "(default: the address's host on port 8265)."
        ),
        "schema": {"type": ["string", "null"], "format": "url"},
    },
}


def provider_info_behaviour() -> dict[str, Any]:
    """``ui-field-behaviour`` as provider info spells it (kebab-case keys)."""
    return {
        "hidden-fields": list(HIDDEN_FIELDS),
        "relabeling": dict(RELABELING),
        "placeholders": dict(PLACEHOLDERS),
    }


def hook_behaviour() -> dict[str, Any]:
    """The same behaviour as ``BaseHook.get_ui_field_behaviour`` returns it (snake_case)."""
    return {
        "hidden_fields": list(HIDDEN_FIELDS),
        "relabeling": dict(RELABELING),
        "placeholders": dict(PLACEHOLDERS),
    }


def conn_fields() -> dict[str, dict[str, Any]]:
    """``conn-fields`` for provider info (a copy: callers may not change the definition)."""
    return copy.deepcopy(CONN_FIELDS)
