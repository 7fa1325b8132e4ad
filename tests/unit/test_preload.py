"""Which Airflow processes preload for their task processes, and what (``ray_provider.preload``)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from ray_provider import preload


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/venv/bin/airflow", "scheduler"], True),
        (["/venv/bin/airflow", "celery", "worker", "-q", "default"], True),
        (["/venv/bin/airflow", "api-server"], False),
        (["/venv/bin/airflow", "dag-processor"], False),
        (["/venv/bin/airflow", "triggerer"], False),
        (["/venv/bin/airflow", "celery", "flower"], False),
        (["/venv/bin/python", "-m", "pytest"], False),
        (["/venv/bin/airflow"], False),
    ],
)
def test_only_processes_that_fork_task_processes_preload(argv, expected):
    assert preload.forks_task_processes(argv) is expected


def test_the_first_spelling_of_the_variable_is_still_read_and_loses_to_the_new(monkeypatch):
    monkeypatch.delenv(preload.PRELOAD_ENV, raising=False)
    monkeypatch.setenv(preload.LEGACY_PRELOAD_ENV, "json")
    assert preload.modules_to_preload() == ["json"]
    monkeypatch.setenv(preload.PRELOAD_ENV, "colorsys")
    assert preload.modules_to_preload() == ["colorsys"]


def test_preload_modules_is_read_from_airflow_cfg(tmp_path):
    (tmp_path / "airflow.cfg").write_text("[ray_provider]\npreload_modules = json, colorsys\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["AIRFLOW_HOME"] = str(tmp_path)
    code = "from ray_provider import preload; print(preload.modules_to_preload())"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.stdout.strip().splitlines()[-1] == "['json', 'colorsys']", out.stderr[-2000:]


def test_the_environment_variable_replaces_or_turns_off_the_list(monkeypatch):
    monkeypatch.delenv(preload.LEGACY_PRELOAD_ENV, raising=False)
    monkeypatch.delenv(preload.PRELOAD_ENV, raising=False)
    assert preload.modules_to_preload() == list(preload.DEFAULT_MODULES)
    monkeypatch.setenv(preload.PRELOAD_ENV, " json, higgs.model ,")
    assert preload.modules_to_preload() == ["json", "higgs.model"]
    monkeypatch.setenv(preload.PRELOAD_ENV, "")
    assert preload.modules_to_preload() == []


def test_a_module_that_fails_to_import_is_logged_and_the_rest_still_load(caplog):
    sys.modules.pop("colorsys", None)
    with caplog.at_level(logging.WARNING, logger="ray_provider.preload"):
        timings = preload.preload(["no_such_module_for_preload", "colorsys"])
    assert list(timings) == ["colorsys"] and "colorsys" in sys.modules
    assert "could not preload no_such_module_for_preload" in caplog.text


def test_nothing_is_imported_outside_a_forking_process(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/venv/bin/airflow", "api-server"])
    monkeypatch.setenv(preload.PRELOAD_ENV, "no_such_module_for_preload")
    imported = []
    monkeypatch.setattr(preload, "preload", lambda modules: imported.append(modules) or {})
    preload.preload_if_forking_tasks()
    assert imported == []


def test_importing_ray_alone_leaves_forked_children_their_own_ray_ids():
    assert preload.forked_children_share_ray_ids(list(preload.DEFAULT_MODULES)) is False


def test_a_module_that_declares_a_ray_actor_at_import_is_caught_by_the_probe():
    # The registry module declares its actor class at import, which draws a Ray ID: forked
    # task processes would then draw identical IDs and collide.
    assert preload.forked_children_share_ray_ids(["ray", "ray_provider.runtime.registry"])


def test_an_unsafe_list_is_not_preloaded_and_the_log_says_why(monkeypatch, caplog):
    monkeypatch.setattr(sys, "argv", ["/venv/bin/airflow", "scheduler"])
    monkeypatch.setenv(preload.PRELOAD_ENV, "ray,ray_provider.runtime.registry")
    imported = []
    monkeypatch.setattr(preload, "preload", lambda modules: imported.append(modules) or {})
    with caplog.at_level(logging.WARNING, logger="ray_provider.preload"):
        preload.preload_if_forking_tasks()
    assert imported == []
    assert (
        "draw the same Ray IDs" in caplog.text and "[ray_provider] preload_modules" in caplog.text
    )


def test_a_safe_list_is_preloaded_in_the_scheduler(monkeypatch, caplog):
    monkeypatch.setattr(sys, "argv", ["/venv/bin/airflow", "scheduler"])
    monkeypatch.setenv(preload.PRELOAD_ENV, "colorsys")
    with caplog.at_level(logging.INFO, logger="ray_provider.preload"):
        preload.preload_if_forking_tasks()
    assert "imported colorsys for the task processes" in caplog.text
