"""What a deferrable @task.ray gives its deferral: the rest of its execution_timeout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ray_provider.decorators.deferral import deferral_timeout
from ray_provider.triggers.ray_task import RayTaskTrigger


def test_the_deferral_gets_what_is_left_of_execution_timeout():
    started = datetime.now(UTC) - timedelta(minutes=4)
    left = deferral_timeout(timedelta(minutes=10), started)
    assert timedelta(minutes=5, seconds=55) < left <= timedelta(minutes=6)


def test_no_execution_timeout_means_no_deferral_timeout_and_a_spent_one_still_defers():
    assert deferral_timeout(None, datetime.now(UTC)) is None
    spent = deferral_timeout(timedelta(seconds=5), datetime.now(UTC) - timedelta(hours=1))
    assert spent == timedelta(seconds=1)


def test_the_trigger_serializes_to_what_it_is_built_from():
    trigger = RayTaskTrigger({"ref": 1}, cursor=12, partial={"stdout": "half a li"}, poll_seconds=3)
    classpath, kwargs = trigger.serialize()
    assert classpath == "ray_provider.triggers.ray_task.RayTaskTrigger"
    rebuilt = RayTaskTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
