"""The keeper's decisions (``ray_provider.runtime.keeper``) on an in-memory registry.

The real registry and keeper run in ``tests/integration/test_keeper.py``; here each case of
``Keeper.tend`` (create, keep, wait for a busy registry, take over an idle one) is one call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pytest

from ray_provider.runtime.keeper import Keeper, next_step

ME = "job-keeper"
OTHER = "job-task"


@dataclass
class FakeRegistries:
    """One namespace's registry: who created it, what it holds, whether it was retired."""

    creator: str  # the job whose calls create the registry (the keeper's)
    owner: str | None = None
    results: dict[str, str] = field(default_factory=dict)  # result key -> run
    retired: bool = False
    calls: list[str] = field(default_factory=list)

    def owner_job(self) -> str | None:
        return self.owner

    def create(self) -> None:
        self.calls.append("create")
        if self.owner is None:
            self.owner, self.retired = self.creator, False

    def retire_if_idle(self) -> bool:
        self.calls.append("retire_if_idle")
        if not self.results:
            self.retired = True
        return self.retired

    def holdings(self) -> dict[str, Any]:
        return {"results": len(self.results), "runs": len(set(self.results.values()))}

    def replace(self) -> None:
        self.calls.append("replace")
        assert self.retired and not self.results, "replaced a registry that was not retired"
        self.owner, self.retired = self.creator, False


def keeper(registries: FakeRegistries) -> Keeper:
    return Keeper("airflow", 60.0, registries=registries, job_id=ME)


@pytest.mark.parametrize(("owner", "step"), [(None, "create"), (ME, "keep"), (OTHER, "take_over")])
def test_next_step_follows_the_owner(owner, step):
    assert next_step(owner, ME) == step


def test_no_registry_is_created_and_kept():
    registries = FakeRegistries(creator=ME)
    assert keeper(registries).tend() == "kept"
    assert registries.owner == ME and registries.calls == ["create"]


def test_its_own_registry_is_kept_without_touching_it():
    registries = FakeRegistries(creator=ME, owner=ME, results={"k": "run"})
    assert keeper(registries).tend() == "kept"
    assert registries.calls == [] and not registries.retired


def test_a_busy_registry_of_another_job_is_waited_for_and_reported_once(caplog):
    registries = FakeRegistries(creator=ME, owner=OTHER, results={"a": "r1", "b": "r1", "c": "r2"})
    tender = keeper(registries)
    with caplog.at_level(logging.WARNING, logger="ray_provider.cli.keeper"):
        assert [tender.tend() for _ in range(3)] == ["waiting"] * 3
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "holds 3 result(s) of 2 run(s); taking over once they are released" in warnings[0]
    assert registries.owner == OTHER and "replace" not in registries.calls


def test_an_idle_registry_of_another_job_is_taken_over():
    registries = FakeRegistries(creator=ME, owner=OTHER)
    assert keeper(registries).tend() == "kept"
    assert registries.owner == ME
    assert registries.calls == ["retire_if_idle", "replace"]


def test_takes_over_once_the_results_are_released_and_reports_a_new_wait_again(caplog):
    registries = FakeRegistries(creator=ME, owner=OTHER, results={"a": "r1"})
    tender = keeper(registries)
    with caplog.at_level(logging.INFO, logger="ray_provider.cli.keeper"):
        assert tender.tend() == "waiting"
        registries.results.clear()  # the run ended
        assert tender.tend() == "kept"
        # A later registry of another job (the keeper's was killed) is a new wait: said again.
        registries.owner, registries.results = OTHER, {"b": "r2"}
        assert tender.tend() == "waiting"
    messages = [r.getMessage() for r in caplog.records]
    assert sum("taking over once" in m for m in messages) == 2
    assert "Replaced an idle result registry left by another Ray job." in messages


def test_a_registry_that_vanished_after_creation_is_waited_for_not_retired():
    """Someone killed it between creating and looking: wait; the next check creates it."""

    class Vanishing(FakeRegistries):
        def create(self) -> None:
            self.calls.append("create")  # created, and gone again before the next look

    registries = Vanishing(creator=ME)
    tender = keeper(registries)
    assert tender.tend() == "waiting"
    assert registries.calls == ["create"]
