"""The registry's bookkeeping with a fake clock: tries, presence, adoption, release, TTL."""

from __future__ import annotations

import pytest

from ray_provider.runtime.errors import ResultNotFoundError, ResultSupersededError
from ray_provider.runtime.result_table import EARLY_START_SECONDS, ResultTable

TTL = 100.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def running() -> set[str]:
    """Report handles whose task is still running (the handles are plain strings here)."""
    return set()


@pytest.fixture
def table(clock: Clock, running: set[str]) -> ResultTable:
    return ResultTable(TTL, is_running=lambda report: report in running, clock=clock)


def finished(table: ResultTable, key: str, generation: str = "g1", run: str = "run") -> None:
    """A try whose task has finished and whose report was read."""
    table.put(key, run, generation, f"ref:{key}:{generation}", report=f"report:{key}")
    assert table.describe(key, generation, "builtins.int", 8, awaiting_checkpoint=False)


# Tries and generations


def test_presence_tells_missing_present_and_superseded(table):
    finished(table, "k", "g2")
    assert table.presence("k", "g2") == "present"
    assert table.presence("k", "g1") == "superseded"
    assert table.presence("other", "g1") == "missing"


def test_a_new_try_replaces_the_previous_one(table):
    finished(table, "k", "g1")
    table.put("k", "run", "g2", "ref-2", report="report-2")
    assert table.owned("k", "g1") is None
    assert table.owned("k", "g2").ref == "ref-2"
    assert table.stats()["results"] == 1


def test_require_reports_missing_before_superseded_and_returns_in_order(table):
    finished(table, "a")
    finished(table, "b")
    assert [e.ref for e in table.require([("b", "g1"), ("a", "g1")])] == ["ref:b:g1", "ref:a:g1"]
    with pytest.raises(ResultNotFoundError) as missing:
        table.require([("a", "old"), ("gone", "g1")])
    assert "gone" in str(missing.value)
    with pytest.raises(ResultSupersededError) as superseded:
        table.require([("a", "old")])
    assert "a" in str(superseded.value)


def test_calls_for_another_generation_change_nothing(table):
    finished(table, "k", "g2")
    assert not table.describe("k", "g1", "x", 1, awaiting_checkpoint=True)
    table.mark_checkpointed("k", "g1", "s3://elsewhere/")
    assert table.pop("k", "g1") is None
    assert table.state("k") == {
        "generation": "g2",
        "result_type": "builtins.int",
        "size": 8,
        "awaiting_checkpoint": False,
        "checkpoint_uri": None,
    }


def test_state_is_none_until_the_report_is_read(table):
    table.put("k", "run", "g1", "ref", report="report")
    assert table.state("k") is None
    table.describe("k", "g1", "numpy.ndarray", 800, awaiting_checkpoint=True)
    assert table.state("k")["awaiting_checkpoint"] is True
    table.mark_checkpointed("k", "g1", "s3://bucket/k/")
    assert table.state("k")["checkpoint_uri"] == "s3://bucket/k/"
    assert table.state("k")["awaiting_checkpoint"] is False


def test_restore_refuses_to_replace_a_newer_try(table):
    finished(table, "k", "g2")
    with pytest.raises(ResultSupersededError):
        table.refuse_replacing_newer("k", "g1")
    table.refuse_replacing_newer("k", "g2")
    table.refuse_replacing_newer("absent", "g1")


# Start signals


def test_mark_started_before_and_after_put(table, clock):
    table.mark_started("early", "g1")  # the task began before submit() recorded it
    clock.advance(5)
    assert table.put("early", "run", "g1", "ref", report="r").started_at == 1_000.0
    table.put("late", "run", "g1", "ref", report="r")
    assert table.started("late", "g1") is False
    table.mark_started("late", "g1")
    assert table.started("late", "g1") is True
    assert table.started("late", "g0") is None


def test_an_early_start_of_another_generation_does_not_count(table):
    table.mark_started("k", "zombie")
    assert table.put("k", "run", "g1", "ref", report="r").started_at is None


def test_old_early_starts_are_forgotten_by_the_sweep(table, clock):
    table.mark_started("k", "g1")
    clock.advance(EARLY_START_SECONDS + 1)
    table.sweep()
    assert table.put("k", "run", "g1", "ref", report="r").started_at is None


# Adoption


def test_adopt_hands_a_result_awaiting_its_checkpoint_to_the_next_try(table, clock):
    table.put("k", "run", "g1", "ref", report="report")
    assert not table.adopt("k", "g1", "g2"), "the task has not reported yet"
    table.describe("k", "g1", "x", 1, awaiting_checkpoint=True)
    clock.advance(50)
    assert table.adopt("k", "g1", "g2")
    assert table.presence("k", "g2") == "present" and table.presence("k", "g1") == "superseded"
    assert table.owned("k", "g2").last_used == 1_050.0
    assert not table.adopt("k", "g1", "g3"), "the earlier try owns nothing any more"


def test_adopt_refuses_a_result_already_checkpointed(table):
    table.put("k", "run", "g1", "ref", report="report")
    table.describe("k", "g1", "x", 1, awaiting_checkpoint=False)
    assert not table.adopt("k", "g1", "g2")


# Release of a run


def test_release_run_drops_only_that_run(table):
    finished(table, "a", run="run-1")
    finished(table, "b", run="run-1")
    finished(table, "c", run="run-2")
    assert table.release_run("run-1") == 2
    assert table.stats()["keys"] == ["c"]


def test_release_run_spares_entries_created_after_the_run_ended(table, clock):
    finished(table, "before")
    ended_at = clock.now
    clock.advance(10)
    finished(table, "cleared-and-rerun")
    assert table.release_run("run", ended_at=ended_at) == 1
    assert table.stats()["keys"] == ["cleared-and-rerun"]


def test_release_run_spares_running_tasks(table, running):
    table.put("busy", "run", "g1", "ref", report="report:busy")
    running.add("report:busy")
    finished(table, "done")
    assert table.release_run("run") == 1
    running.clear()
    assert table.release_run("run") == 1
    assert table.is_empty()


# TTL sweep


def test_sweep_drops_entries_unused_for_longer_than_their_ttl(table, clock):
    finished(table, "old")
    table.put("short", "run", "g1", "ref", ttl_seconds=10)
    clock.advance(TTL / 2)
    finished(table, "young")
    assert table.sweep() == 1  # "short" (10 s)
    clock.advance(TTL / 2 + 1)
    assert table.sweep() == 1  # "old"
    assert table.stats()["keys"] == ["young"]


def test_reading_a_result_keeps_it_from_the_sweep(table, clock):
    finished(table, "k")
    clock.advance(TTL - 1)
    table.require([("k", "g1")], touch=True)
    clock.advance(TTL - 1)
    assert table.sweep() == 0
    clock.advance(2)
    assert table.sweep() == 1


def test_require_without_touch_does_not_extend_the_ttl(table, clock):
    finished(table, "k")
    clock.advance(TTL - 1)
    table.require([("k", "g1")])
    clock.advance(2)
    assert table.sweep() == 1


def test_sweep_spares_a_running_task_however_old(table, clock, running):
    table.put("busy", "run", "g1", "ref", report="report:busy")
    running.add("report:busy")
    clock.advance(TTL * 100)
    assert table.sweep() == 0
    running.clear()
    assert table.sweep() == 1


def test_a_restored_result_has_no_report_and_is_never_running(table, clock, running):
    entry = table.put("k", "run", "g1", "ref")  # as a restore records it
    assert entry.report is None and entry.ttl_seconds == TTL
    assert table.state("k")["generation"] == "g1"
    clock.advance(TTL + 1)
    assert table.sweep() == 1


def test_stats_count_results_runs_and_bytes(table):
    finished(table, "a", run="run-1")
    finished(table, "b", run="run-2")
    assert table.stats() == {
        "results": 2,
        "runs": 2,
        "bytes": 16,
        "keys": ["a", "b"],
        "ttl_seconds": TTL,
    }
