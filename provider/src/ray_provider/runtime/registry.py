"""The detached actor that submits ``@task.ray`` callables and owns their results.

Ray frees an object when its owner process exits, and the owner of a task's result is the
process that submitted the task. An Airflow task process exits right after its task, so it must
not be the owner. This actor is: it submits each task itself and keeps the result's ObjectRef
under a key (``deployment/dag_id/run_id/task_id/map_index``, tagged with the try's generation).
Drivers only ever hold the key. A consumer task is submitted by the actor too, with the
upstream refs as arguments, so the data goes from the object store to the consumer without
passing through Airflow.

Results are dropped when their DAG run ends (``release_run``), when a retry replaces them, or
by the TTL sweep (each entry with its connection's ``result_ttl_seconds``), whichever comes
first; neither drops a result whose Ray task is still running.

The actor's Ray job is the job of the driver that created it, and Ray keeps idle worker
processes for reuse only while that job's driver is alive. ``python -m ray_provider.cli.keeper``
is such a driver; without it the first Airflow task creates the registry and, once that task
exits, every callable waits for a fresh worker process (see ``ray_provider.cli.keeper``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import ray

from ray_provider.runtime import capacity
from ray_provider.runtime.checkpoint_io import read_checkpoint, write_checkpoint
from ray_provider.runtime.errors import RegistryRetiredError
from ray_provider.runtime.execute import item_keys, run_callable
from ray_provider.runtime.keys import DEFAULT_RESULT_TTL_SECONDS, REGISTRY_ACTOR_NAME
from ray_provider.runtime.output_buffer import Chunk, OutputBuffer
from ray_provider.runtime.result_table import ResultTable, Upstream
from ray_provider.runtime.store import StoreConfig

_run_remote = ray.remote(run_callable)
_write_checkpoint_remote = ray.remote(write_checkpoint)
_read_checkpoint_remote = ray.remote(read_checkpoint)
_item_keys_remote = ray.remote(num_cpus=0)(item_keys)

# How often the TTL sweep looks for expired results.
SWEEP_INTERVAL_SECONDS = 30.0
# Output nobody finished reading is dropped this long after the task closed it (or, for a
# task that never closed it, after its last write).
OUTPUT_KEEP_CLOSED_SECONDS = 600.0
OUTPUT_KEEP_OPEN_SECONDS = 3600.0


def _still_running(report_ref: ray.ObjectRef) -> bool:
    """True while the Ray task behind ``report_ref`` has not reported (asks without waiting)."""
    ready, _ = ray.wait([report_ref], timeout=0, fetch_local=False)
    return not ready


class ResultRegistry:
    """Owns task results; see the module docstring. Methods run concurrently (threaded actor).

    The bookkeeping (generations, presence, what a release or the sweep spares) is a
    :class:`~ray_provider.runtime.result_table.ResultTable`; every call into it holds
    ``self._lock``. This class adds the Ray side: submitting tasks and checkpoint transfers,
    and lending refs. Every call names the try's generation it expects (see the table).
    """

    def __init__(self, ttl_seconds: float = DEFAULT_RESULT_TTL_SECONDS) -> None:
        self._table = ResultTable(ttl_seconds, is_running=_still_running)
        self._lock = threading.Lock()
        self._retired = False
        # Submissions and restores between their two locked sections: their entry is not in
        # the table yet, but the actor must not be retired (killed) under them.
        self._in_flight = 0
        # Per try: its output while it runs (runtime.output_buffer) and its Ray task id.
        self._outputs: dict[tuple[str, str], OutputBuffer] = {}
        self._ray_tasks: dict[tuple[str, str], str] = {}
        threading.Thread(target=self._sweep_forever, name="ttl-sweep", daemon=True).start()

    def submit(
        self,
        key: str,
        run_key: str,
        generation: str,
        payload: bytes,
        upstream: list[Upstream],
        options: dict[str, Any],
        ttl_seconds: float | None = None,
    ) -> list[ray.ObjectRef]:
        """Run the pickled callable with the upstream results; return ``[report_ref]``.

        The new entry replaces the key's previous try (its result is no longer referenced).
        """
        with self._lock:
            self._refuse_if_retired()
            refs = [entry.ref for entry in self._table.require(upstream, touch=True)]
            self._in_flight += 1
        with self._submitting():
            signal = (ray.get_runtime_context().current_actor, key, generation)
            value_ref, report_ref = _run_remote.options(num_returns=2, **options).remote(
                payload, signal, *refs
            )
            with self._lock:
                self._table.put(
                    key, run_key, generation, value_ref, report=report_ref, ttl_seconds=ttl_seconds
                )
        # Wrapped in a list so Ray hands the caller the ref itself, not its value.
        return [report_ref]

    def mark_started(self, key: str, generation: str, ray_task_id: str = "") -> None:
        """Called by the task itself when a worker starts running it."""
        with self._lock:
            # The task can start before submit() has recorded it: the table keeps the signal.
            self._table.mark_started(key, generation)
            if ray_task_id:
                self._ray_tasks[(key, generation)] = ray_task_id

    def append_output(
        self, key: str, generation: str, chunks: list[Chunk], close: bool = False
    ) -> int:
        """The running task's latest output (``runtime.live_output`` sends it); returns how
        many characters its reader has not read yet, so the sender can keep pace."""
        with self._lock:
            buffer = self._outputs.setdefault((key, generation), OutputBuffer())
            buffer.append(chunks, close=close)
            return buffer.unread()

    def read_output(self, key: str, generation: str, cursor: int) -> dict[str, Any]:
        """The try's output after ``cursor`` (see ``OutputBuffer.read``), and its Ray task id."""
        with self._lock:
            buffer = self._outputs.get((key, generation))
            read = buffer.read(cursor) if buffer is not None else None
            ray_task_id = self._ray_tasks.get((key, generation), "")
        if read is None:
            return {
                "chunks": [],
                "cursor": cursor,
                "dropped": 0,
                "closed": False,
                "more": False,
                "ray_task_id": ray_task_id,
            }
        return {
            "chunks": read.chunks,
            "cursor": read.cursor,
            "dropped": read.dropped,
            "closed": read.closed,
            "more": read.more,
            "ray_task_id": ray_task_id,
        }

    def forget_output(self, key: str, generation: str) -> None:
        """The Airflow side has read the try's output to the end."""
        with self._lock:
            self._outputs.pop((key, generation), None)
            self._ray_tasks.pop((key, generation), None)

    def status(self, key: str, generation: str) -> str:
        """``running``, ``done`` or ``gone``: what a deferred task's trigger polls."""
        with self._lock:
            entry = self._table.owned(key, generation)
            if entry is None:
                return "gone"
            report = entry.report
        if report is None or not _still_running(report):
            return "done"
        return "running"

    def report(self, key: str, generation: str) -> list[ray.ObjectRef] | None:
        """``[report_ref]`` of this try while it is unread, else ``None`` (a resumed wait)."""
        with self._lock:
            entry = self._table.owned(key, generation)
            if entry is None or entry.report is None:
                return None
            return [entry.report]

    def started(self, key: str, generation: str) -> bool | None:
        """Whether this try's task has started on a worker (``None``: no such entry)."""
        with self._lock:
            return self._table.started(key, generation)

    def capacity(self) -> dict[str, Any]:
        """The cluster's nodes, pending requests and alive actors (see ``capacity``)."""
        return {**capacity.snapshot(), "holders": capacity.holders()}

    def describe(
        self,
        key: str,
        generation: str,
        result_type: str,
        size: int,
        awaiting_checkpoint: bool = False,
    ) -> bool:
        """Record what the result is, once the Airflow side has read the task's report."""
        with self._lock:
            return self._table.describe(key, generation, result_type, size, awaiting_checkpoint)

    def state(self, key: str) -> dict[str, Any] | None:
        """What is known of the key's finished result (``None`` when there is none)."""
        with self._lock:
            return self._table.state(key)

    def adopt(self, key: str, generation: str, new_generation: str) -> bool:
        """Hand a computed result whose checkpoint failed to the next try (atomically).

        Only an entry still awaiting its checkpoint, and still of ``generation``, is handed
        over; the earlier try, should it still be alive, then owns nothing.
        """
        with self._lock:
            return self._table.adopt(key, generation, new_generation)

    def checkpoint(
        self, key: str, generation: str, config: StoreConfig, prefix: str
    ) -> list[ray.ObjectRef]:
        """Write the result to the checkpoint store (a Ray task); returns ``[manifest_ref]``."""
        with self._lock:
            [entry] = self._table.require([(key, generation)])
            value_ref, result_type = entry.ref, entry.result_type
        return [_write_checkpoint_remote.remote(value_ref, config, prefix, result_type)]

    def item_keys(self, key: str, generation: str) -> list[ray.ObjectRef]:
        """``[ref]`` of the result's list indices or dict keys (a Ray task reads the value)."""
        with self._lock:
            [entry] = self._table.require([(key, generation)], touch=True)
        return [_item_keys_remote.remote(entry.ref)]

    def mark_checkpointed(self, key: str, generation: str, uri: str) -> None:
        with self._lock:
            self._table.mark_checkpointed(key, generation, uri)

    def restore(
        self,
        key: str,
        run_key: str,
        generation: str,
        config: StoreConfig,
        prefix: str,
        expected_digest: str | None,
        ttl_seconds: float | None = None,
    ) -> list[ray.ObjectRef]:
        """Load a checkpoint back into Ray under ``key`` (owned here); returns ``[manifest]``.

        Refused (``ResultSupersededError``) when the key now holds another try's result: a
        restore must never replace a newer value with an older one.
        """
        with self._lock:
            self._refuse_if_retired()
            self._table.refuse_replacing_newer(key, generation)
            self._in_flight += 1
        with self._submitting():
            value_ref, manifest_ref = _read_checkpoint_remote.options(num_returns=2).remote(
                config, prefix, expected_digest
            )
            with self._lock:
                self._table.put(key, run_key, generation, value_ref, ttl_seconds=ttl_seconds)
        return [manifest_ref]

    def lookup(self, key: str, generation: str) -> list[ray.ObjectRef]:
        """Lend the result's ref to a caller (it becomes a borrower), as ``[ref]``."""
        with self._lock:
            [entry] = self._table.require([(key, generation)], touch=True)
            return [entry.ref]

    def presence(self, upstream: list[Upstream]) -> dict[str, str]:
        """For each key: "present", "missing", or "superseded" (another try's result now)."""
        with self._lock:
            return {key: self._table.presence(key, generation) for key, generation in upstream}

    def discard(self, key: str, generation: str) -> bool:
        """Forget one try's result (a failed task's placeholder, or an explicit clean-up)."""
        with self._lock:
            return self._table.pop(key, generation) is not None

    def cancel(self, key: str, generation: str) -> None:
        """Cancel the running task of this try (Airflow killed the task) and forget it."""
        with self._lock:
            entry = self._table.pop(key, generation)
        if entry is not None:
            ray.cancel(entry.ref, force=True)

    def cancel_running(self, key: str) -> bool:
        """Cancel and forget the key's try if its task is still running (any generation)."""
        with self._lock:
            entry = self._table.current(key)
            if entry is None or entry.report is None or not _still_running(entry.report):
                return False
            self._table.pop(key, entry.generation)
        ray.cancel(entry.ref, force=True)
        return True

    def release_run(self, run_key: str, ended_at: float | None = None) -> int:
        """Drop the results of one DAG run; returns how many were dropped.

        Spares entries created after ``ended_at`` (a task cleared after the run ended has
        started a new try) and entries whose Ray task is still running.
        """
        with self._lock:
            return self._table.release_run(run_key, ended_at)

    def retire_if_idle(self) -> bool:
        """Stop taking work if no result is held, so a keeper can replace this actor safely.

        Atomic with ``submit``/``restore``: after it returns True nothing new lands here, so
        killing the actor loses nothing. Returns whether the registry is retired.
        """
        with self._lock:
            if self._table.is_empty() and not self._in_flight:
                self._retired = True
            return self._retired

    @contextlib.contextmanager
    def _submitting(self) -> Iterator[None]:
        """Ends an in-flight submission (counted under the lock by the caller).

        The Ray submission runs outside the lock; the entry is recorded (under the lock) before
        the count drops, so ``retire_if_idle`` always sees one or the other.
        """
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def _refuse_if_retired(self) -> None:
        if self._retired:
            raise RegistryRetiredError("the result registry is being replaced; resubmit")

    def job_id(self) -> str:
        """The Ray job this actor belongs to (the job of the driver that created it)."""
        return ray.get_runtime_context().get_job_id()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return self._table.stats()

    def sweep(self) -> int:
        """Drop results unused for longer than their TTL (runs that never ended cleanly).

        An entry whose Ray task is still running is spared, however old.
        """
        with self._lock:
            for try_id, buffer in list(self._outputs.items()):
                keep = OUTPUT_KEEP_CLOSED_SECONDS if buffer.closed else OUTPUT_KEEP_OPEN_SECONDS
                if buffer.idle_for() > keep:
                    del self._outputs[try_id]
            for try_id in set(self._ray_tasks) - set(self._outputs):
                if self._table.owned(*try_id) is None:
                    del self._ray_tasks[try_id]
            return self._table.sweep()

    def _sweep_forever(self) -> None:
        while True:
            time.sleep(SWEEP_INTERVAL_SECONDS)
            try:
                self.sweep()
            except Exception:  # keep sweeping whatever one pass hit
                pass


RemoteResultRegistry = ray.remote(ResultRegistry)


def get_or_create_registry(
    namespace: str, ttl_seconds: float = DEFAULT_RESULT_TTL_SECONDS
) -> ray.actor.ActorHandle:
    """The namespace's registry actor, created on first use (on the head node, 0 CPUs)."""
    return RemoteResultRegistry.options(
        name=REGISTRY_ACTOR_NAME,
        namespace=namespace,
        lifetime="detached",
        get_if_exists=True,
        num_cpus=0,
        max_concurrency=64,
        # Keep the owner of every result off worker nodes that an autoscaler may remove.
        resources={"node:__internal_head__": 0.001},
        max_restarts=0,
    ).remote(ttl_seconds)


def current_registry(namespace: str) -> ray.actor.ActorHandle | None:
    """The namespace's registry actor, or ``None`` if there is none (never creates one)."""
    try:
        return ray.get_actor(REGISTRY_ACTOR_NAME, namespace=namespace)
    except ValueError:
        return None


def kill_registry(namespace: str, timeout: float = 60.0) -> None:
    """Kill the registry (with every result it holds) and wait until its name is free.

    Ray releases a killed actor's name a little later; creating the next one before that would
    return the dying actor (``get_if_exists``).
    """
    registry = current_registry(namespace)
    if registry is None:
        return
    ray.kill(registry, no_restart=True)
    deadline = time.monotonic() + timeout
    while current_registry(namespace) is not None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the registry in {namespace!r} did not go away in {timeout}s")
        time.sleep(0.1)
