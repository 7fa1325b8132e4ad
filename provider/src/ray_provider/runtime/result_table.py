"""The registry's bookkeeping: which result each key holds, for which try, until when.

This is the pure half of the registry actor (``runtime.registry``): no Ray calls, a clock and
a "still running?" probe given as arguments, so the rules (generations, presence, adoption,
what a run's release and the TTL sweep spare) are tested in-memory with a fake clock. The
actor owns the Ray side (submitting tasks, holding the ObjectRefs) and serializes every call
into the table with its lock; the table itself is not thread-safe.

Each key holds the result of one try, tagged with that try's generation. Every call that
reads or changes an entry names the generation it expects: a call for another generation (a
zombie try, a reference made before a retry) changes nothing, and a read of it fails with
``ResultSupersededError`` rather than returning the newer value.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ray_provider.runtime.errors import ResultNotFoundError, ResultSupersededError

Presence = Literal["present", "missing", "superseded"]
Upstream = tuple[str, str]  # (key, generation)

# A start signal whose submission never completed is forgotten after this long.
EARLY_START_SECONDS = 600.0


@dataclass
class Entry:
    """One try's result. ``ref`` and ``report`` are opaque handles (ObjectRefs in the actor).

    ``report`` is the handle of the task's report while the task may still be running; it is
    cleared once the Airflow side has read the report (:meth:`ResultTable.describe`), and is
    ``None`` from the start for a result restored from a checkpoint.
    """

    ref: Any
    run_key: str
    generation: str
    ttl_seconds: float
    created_at: float
    last_used: float
    report: Any = None
    result_type: str = ""
    size: int = 0
    awaiting_checkpoint: bool = False
    checkpoint_uri: str | None = None
    started_at: float | None = None


class ResultTable:
    """The entries of the registry, keyed by result key (see the module docstring).

    :param ttl_seconds: the TTL of an entry added without one of its own.
    :param is_running: whether the task behind a report handle has not finished yet (the
        actor asks Ray without waiting); an entry whose task runs is never dropped by a
        release or a sweep.
    :param clock: seconds since the epoch (``time.time``; a fake one in tests).
    """

    def __init__(
        self,
        ttl_seconds: float,
        is_running: Callable[[Any], bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self._is_running = is_running
        self._clock = clock
        self._entries: dict[str, Entry] = {}
        self._early_starts: dict[Upstream, float] = {}

    # Reading

    def current(self, key: str) -> Entry | None:
        """The key's entry, whichever try it belongs to."""
        return self._entries.get(key)

    def owned(self, key: str, generation: str) -> Entry | None:
        """The key's entry if it is of ``generation``; ``None`` if absent or another try's."""
        entry = self._entries.get(key)
        return entry if entry is not None and entry.generation == generation else None

    def presence(self, key: str, generation: str) -> Presence:
        """The key's state for this try: present, missing, or superseded (another try's)."""
        entry = self._entries.get(key)
        if entry is None:
            return "missing"
        return "present" if entry.generation == generation else "superseded"

    def require(self, upstream: list[Upstream], *, touch: bool = False) -> list[Entry]:
        """The entries of ``upstream``, in order; raises when any is missing or superseded.

        Missing keys are reported before superseded ones. ``touch`` marks them used now (a
        read keeps a result from the TTL sweep).
        """
        found = {key: self.presence(key, generation) for key, generation in upstream}
        missing = [key for key, state in found.items() if state == "missing"]
        if missing:
            raise ResultNotFoundError(missing)
        replaced = [key for key, state in found.items() if state == "superseded"]
        if replaced:
            raise ResultSupersededError(replaced)
        entries = [self._entries[key] for key, _ in upstream]
        if touch:
            now = self._clock()
            for entry in entries:
                entry.last_used = now
        return entries

    def started(self, key: str, generation: str) -> bool | None:
        """Whether this try's task has started on a worker (``None``: no such entry)."""
        entry = self.owned(key, generation)
        return None if entry is None else entry.started_at is not None

    def state(self, key: str) -> dict[str, Any] | None:
        """What is known of the key's finished result (``None``: none, or not described)."""
        entry = self._entries.get(key)
        if entry is None or entry.report is not None:
            return None
        return {
            "generation": entry.generation,
            "result_type": entry.result_type,
            "size": entry.size,
            "awaiting_checkpoint": entry.awaiting_checkpoint,
            "checkpoint_uri": entry.checkpoint_uri,
        }

    def is_empty(self) -> bool:
        return not self._entries

    def stats(self) -> dict[str, Any]:
        """Counts for operators and tests: results, runs, bytes, keys, the default TTL."""
        return {
            "results": len(self._entries),
            "runs": len({e.run_key for e in self._entries.values()}),
            "bytes": sum(e.size for e in self._entries.values()),
            "keys": sorted(self._entries),
            "ttl_seconds": self.ttl_seconds,
        }

    # Changing

    def refuse_replacing_newer(self, key: str, generation: str) -> None:
        """Raise ``ResultSupersededError`` when the key holds another try's result.

        A restore checks this first: it must never replace a newer value with an older one.
        """
        current = self._entries.get(key)
        if current is not None and current.generation != generation:
            raise ResultSupersededError([key])

    def put(
        self,
        key: str,
        run_key: str,
        generation: str,
        ref: Any,
        *,
        report: Any = None,
        ttl_seconds: float | None = None,
    ) -> Entry:
        """Record a try's result under ``key``, replacing whatever the key held.

        A start signal that arrived before this (the task began before its submission was
        recorded) is applied now. ``ttl_seconds`` falsy: the table's default.
        """
        now = self._clock()
        entry = Entry(
            ref=ref,
            run_key=run_key,
            generation=generation,
            ttl_seconds=ttl_seconds or self.ttl_seconds,
            created_at=now,
            last_used=now,
            report=report,
            started_at=self._early_starts.pop((key, generation), None),
        )
        self._entries[key] = entry
        return entry

    def mark_started(self, key: str, generation: str) -> None:
        """The task of this try started on a worker (kept for later if not yet recorded)."""
        entry = self.owned(key, generation)
        if entry is None:
            self._early_starts[(key, generation)] = self._clock()
        elif entry.started_at is None:
            entry.started_at = self._clock()

    def describe(
        self, key: str, generation: str, result_type: str, size: int, awaiting_checkpoint: bool
    ) -> bool:
        """Record what the result is (its report was read: the task is over)."""
        entry = self.owned(key, generation)
        if entry is None:
            return False
        entry.result_type, entry.size, entry.report = result_type, size, None
        entry.awaiting_checkpoint = awaiting_checkpoint
        return True

    def adopt(self, key: str, generation: str, new_generation: str) -> bool:
        """Hand a described result still awaiting its checkpoint to the next try."""
        entry = self.owned(key, generation)
        if entry is None or not entry.awaiting_checkpoint or entry.report is not None:
            return False
        entry.generation = new_generation
        entry.last_used = self._clock()
        return True

    def mark_checkpointed(self, key: str, generation: str, uri: str) -> None:
        entry = self.owned(key, generation)
        if entry is not None:
            entry.awaiting_checkpoint, entry.checkpoint_uri = False, uri

    def pop(self, key: str, generation: str) -> Entry | None:
        """Remove and return this try's entry (``None``, and nothing removed, if not held)."""
        entry = self.owned(key, generation)
        if entry is not None:
            del self._entries[key]
        return entry

    def release_run(self, run_key: str, ended_at: float | None = None) -> int:
        """Drop the results of one DAG run; returns how many were dropped.

        Spares entries created after ``ended_at`` (default: now; a task cleared after the run
        ended has started a new try) and entries whose task is still running.
        """
        cutoff = self._clock() if ended_at is None else ended_at
        keys = [
            key
            for key, entry in self._entries.items()
            if entry.run_key == run_key and entry.created_at <= cutoff and not self._running(entry)
        ]
        for key in keys:
            del self._entries[key]
        return len(keys)

    def sweep(self) -> int:
        """Drop results unused for longer than their TTL; returns how many were dropped.

        An entry whose task is still running is spared, however old. Start signals older
        than ``EARLY_START_SECONDS`` (their submission never completed) are forgotten.
        """
        now = self._clock()
        expired = [
            key
            for key, entry in self._entries.items()
            if entry.last_used < now - entry.ttl_seconds and not self._running(entry)
        ]
        for key in expired:
            del self._entries[key]
        for signal, at in list(self._early_starts.items()):
            if at < now - EARLY_START_SECONDS:
                del self._early_starts[signal]
        return len(expired)

    def _running(self, entry: Entry) -> bool:
        return entry.report is not None and self._is_running(entry.report)
