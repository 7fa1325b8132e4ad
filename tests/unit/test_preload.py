"""Which Airflow processes preload for their task processes, and what (``ray_provider.preload``)."""

from __future__ import annotations

import logging
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


def test_the_environment_variable_replaces_or_turns_off_the_list(monkeypatch):
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
    monkeypatch.setattr(preload, "preload", lambda modules=None: imported.append(modules) or {})
    preload.preload_if_forking_tasks()
    assert imported == []
