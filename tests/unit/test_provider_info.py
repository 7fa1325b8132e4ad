"""The provider registers itself with Airflow: connection type, hook, decorator, plugin."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

import pytest

from ray_provider.get_provider_info import get_provider_info


def test_entry_point_points_at_provider_info():
    [entry] = [
        e
        for e in entry_points(group="apache_airflow_provider")
        if e.value.startswith("ray_provider")
    ]
    assert entry.load() is get_provider_info


def test_plugin_is_an_entry_point_plugin():
    """Airflow loads provider-declared plugins only with eager provider loading."""
    [entry] = [e for e in entry_points(group="airflow.plugins") if e.name == "ray_provider"]
    from ray_provider.plugins import RayProviderPlugin

    assert entry.load() is RayProviderPlugin


def test_every_class_named_in_provider_info_imports():
    info = get_provider_info()
    names = [c["hook-class-name"] for c in info["connection-types"]]
    names += [d["class-name"] for d in info["task-decorators"]]
    for dotted in names:
        module, _, attribute = dotted.rpartition(".")
        assert getattr(importlib.import_module(module), attribute)


def test_provider_info_matches_airflow_schema():
    jsonschema = pytest.importorskip("jsonschema")
    import json
    from pathlib import Path

    import airflow

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_task_ray_is_available_through_airflow():
    from airflow.sdk import task
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    runtime = ProvidersManagerTaskRuntime()
    assert "ray" in runtime.taskflow_decorators
    assert callable(task.ray)
    assert "ray" in runtime.hooks


def test_seed_spelling_imports():
    from ray_provider.decorators.ray import ray_task as registered
    from ray_provider.decorators.ray_decorators import ray_task

    assert ray_task is registered
