"""The provider registers itself with Airflow: connection type, hook, decorator, plugin."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from importlib.metadata import entry_points, version
from pathlib import Path
from types import SimpleNamespace

import pytest

from ray_provider.get_provider_info import get_provider_info
from ray_provider.hooks.ray import RayHook


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


def _airflow_schema(name: str) -> dict:
    import airflow

    return json.loads((Path(airflow.__file__).parent / name).read_text())


def test_provider_info_matches_airflow_schema():
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(get_provider_info(), _airflow_schema("provider_info.schema.json"))


@pytest.mark.parametrize("section", ["connection-types", "config"])
def test_ui_fields_and_config_match_the_provider_yaml_schema(section):
    """provider_info.schema.json leaves these open; provider.yaml's schema defines them."""
    jsonschema = pytest.importorskip("jsonschema")
    full = _airflow_schema("provider.yaml.schema.json")
    schema = {**full["properties"][section], "definitions": full.get("definitions", {})}
    jsonschema.validate(get_provider_info()[section], schema)


def test_the_hook_form_is_the_provider_info_form():
    """Airflow < 3.2 asks the hook, 3.2+ reads provider info: both must show the same form."""
    [ray] = get_provider_info()["connection-types"]
    from_info = {key.replace("-", "_"): value for key, value in ray["ui-field-behaviour"].items()}
    assert RayHook.get_ui_field_behaviour() == from_info
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(
        RayHook.get_ui_field_behaviour(),
        _airflow_schema("customized_form_field_behaviours.schema.json"),
    )


def test_airflow_builds_the_connection_form_from_provider_info():
    """What the UI gets: ProvidersManager's own reading of the metadata, prefixes and all."""
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    [ray] = get_provider_info()["connection-types"]
    behaviour = manager._field_behaviours_from_metadata["ray"]
    assert behaviour["hidden_fields"] == ray["ui-field-behaviour"]["hidden-fields"]
    assert behaviour["relabeling"] == {"host": "Ray address", "password": "Auth token"}
    assert behaviour["placeholders"]["host"].startswith("ray://")
    widgets = manager._connection_form_widgets_from_metadata
    assert {f"extra__ray__{name}" for name in ray["conn-fields"]} <= set(widgets)
    namespace = widgets["extra__ray__namespace"].field
    assert (namespace["schema"]["title"], namespace["value"]) == ("Ray namespace", "airflow")


def test_form_defaults_are_the_defaults_the_settings_apply(monkeypatch):
    """A connection with no extras behaves as the form's pre-filled values say."""
    from ray_provider.client.settings import settings_from_connection

    monkeypatch.delenv("RAY_URL", raising=False)
    conn = SimpleNamespace(conn_type="ray", host="local", port=None, password=None, extra_dejson={})
    settings = settings_from_connection(conn, "ray_default")
    [ray] = get_provider_info()["connection-types"]
    defaults = {
        name: field["schema"]["default"]
        for name, field in ray["conn-fields"].items()
        if "default" in field["schema"]
    }
    assert defaults == {
        "namespace": settings.namespace,
        "connect_timeout": settings.connect_timeout,
        "pending_timeout_seconds": settings.pending_timeout_seconds,
    }
    assert (
        str(settings.result_ttl_seconds) in ray["conn-fields"]["result_ttl_seconds"]["description"]
    )
    assert str(settings.local_port) in ray["conn-fields"]["local_port"]["description"]


class _RecordingExtra(dict):
    """An empty extra that records every key the code asks it for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def __bool__(self) -> bool:  # read like a connection's non-empty extra
        return True

    def get(self, key, default=None):
        self.asked.add(key)
        return super().get(key, default)

    def __contains__(self, key) -> bool:
        self.asked.add(key)
        return super().__contains__(key)

    def __getitem__(self, key):
        self.asked.add(key)
        return super().__getitem__(key)


def test_every_extra_the_settings_read_is_in_the_form(monkeypatch):
    """An extra read but not in the form would be an undocumented alias; retired ones only
    are looked at, to refuse them, and the 2021 spellings of the task defaults are aliases."""
    from ray_provider.client.settings import (
        RETIRED_EXTRAS,
        TASK_DEFAULT_EXTRAS,
        settings_from_connection,
    )

    monkeypatch.delenv("RAY_URL", raising=False)
    extra = _RecordingExtra()
    conn = SimpleNamespace(
        conn_type="ray", host="local", port=None, password=None, extra_dejson=extra
    )
    settings_from_connection(conn, "ray_default")
    [ray] = get_provider_info()["connection-types"]
    aliases = set(RETIRED_EXTRAS) | set(TASK_DEFAULT_EXTRAS.values())
    assert extra.asked - aliases == set(ray["conn-fields"])


def test_one_version_everywhere():
    import ray_provider

    assert get_provider_info()["versions"] == [ray_provider.__version__]
    assert version("ray-taskflow-provider") == ray_provider.__version__


def test_provider_info_imports_neither_ray_nor_airflow():
    """Airflow calls it while its own configuration loads: importing Airflow from it would be
    circular, and Ray would slow every Airflow process's start."""
    code = (
        "import sys; from ray_provider.get_provider_info import get_provider_info; "
        "get_provider_info(); "
        "print(sorted(m for m in ('ray', 'cloudpickle', 'airflow') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert out.strip() == "[]"


def test_materialize_limit_default_has_one_value():
    from ray_provider import xcom
    from ray_provider.config_options import DEFAULT_MATERIALIZE_LIMIT

    option = get_provider_info()["config"]["ray_provider"]["options"]["xcom_materialize_max_bytes"]
    assert int(option["default"]) == DEFAULT_MATERIALIZE_LIMIT == xcom.DEFAULT_MATERIALIZE_LIMIT


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


def test_airflow_config_list_shows_every_provider_option(tmp_path):
    """`airflow config list` documents the section, with the defaults the code applies."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["AIRFLOW_HOME"] = str(tmp_path)
    airflow = Path(sys.executable).with_name("airflow")
    out = subprocess.run(
        [
            str(airflow),
            "config",
            "list",
            "--section",
            "ray_provider",
            "--include-descriptions",
            "--show-values",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    options = get_provider_info()["config"]["ray_provider"]["options"]
    for name in (
        "preload_modules",
        "deferrable",
        "deferrable_poll_seconds",
        "xcom_materialize_max_bytes",
        "deployment_key",
    ):
        assert name in options and f"{name} =" in out.stdout.replace("# ", ""), name
    assert "preload_modules = pandas,ray" in out.stdout.replace("# ", "")
