"""``RayResults``: the one API for a task's result in the Ray result registry.

Everything that happens to a result goes through here: making its identity (``new_result``),
running the callable (``run``: feasibility, upstream restore, submit, wait, lost-object
recovery), recording it, writing and restoring its checkpoint, fetching it into this process
(``materialize``), and releasing a run's results. ``@task.ray``, the XCom backend, the run-end
release, the benchmarks and the tests all call this class; none of them talks to the registry
actor, and none builds a key (``ray_provider.runtime.keys`` owns the format).

It runs in Airflow processes but needs no Airflow connection of its own: ``RayHook.results()``
builds one from the connection's settings.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import ray
from ray import cloudpickle

from ray_provider.client import connect as _connect
from ray_provider.client.deployment import Deployment
from ray_provider.client.deployment import current as current_deployment
from ray_provider.client.live_log import Emit, LiveLog
from ray_provider.client.reference import RayResultRef
from ray_provider.client.settings import RaySettings
from ray_provider.client.units import human_size
from ray_provider.exceptions import (
    CheckpointRestoreError,
    CheckpointWriteError,
    RayRemoteTaskError,
    RayResourceError,
    RayResultLostError,
    RayResultSupersededError,
)
from ray_provider.runtime import capacity
from ray_provider.runtime.errors import (
    RegistryRetiredError,
    ResultNotFoundError,
    ResultSupersededError,
    missing_keys_of,
    superseded_keys_of,
)
from ray_provider.runtime.execute import TaskReport
from ray_provider.runtime.keys import new_generation, run_key
from ray_provider.runtime.portable import restore
from ray_provider.runtime.registry import get_or_create_registry

# How long a submission waits for a keeper to finish replacing a retired registry.
REGISTRY_HANDOVER_SECONDS = 30.0
# A watched wait looks at the task and the cluster this often; it warns of work stuck waiting
# for resources once that lasted this long (so within a minute), then again at most this often.
WATCH_TICK_SECONDS = 5.0
STALL_WARNING_SECONDS = 40.0
STALL_REPEAT_SECONDS = 300.0
# How often a waiting task logs that the Ray task is still running.
PROGRESS_LOG_SECONDS = 30.0
# How often a wait fetches the running task's output for the log: twice a second keeps the
# registry's buffer (16 M characters) under half full even for a callable that does nothing but
# print (the bench's 200,000 lines take 0.9 s; with one read a second its first read came after
# the buffer had overflowed).
OUTPUT_POLL_SECONDS = 0.5
# A read that brought this much output means a chatty task: look again after BUSY_POLL_SECONDS,
# so the registry's buffer (16 M characters, output_buffer) never fills between two reads
# (a callable that only prints writes about 17 MB/s on 2 cores).
BUSY_OUTPUT_CHARS = 1_000_000
BUSY_POLL_SECONDS = 0.25

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Watch:
    """What a wait watches: one try's task and the resources it asked for."""

    key: str
    generation: str
    shape: dict[str, float]
    label: str
    # Where warnings of stuck work go (``@task.ray`` passes its task log's).
    warn: Callable[[str], None] = _log.warning


class RemoteTraceback(Exception):
    """Carries the traceback printed on the Ray worker (shown as the cause of the failure)."""

    def __str__(self) -> str:
        return "\n\nRemote traceback (on the Ray worker):\n" + str(self.args[0])


def remote_exception(report: TaskReport) -> BaseException:
    """The exception the callable raised on Ray (or a RayRemoteTaskError naming it)."""
    cause = RemoteTraceback(report.traceback)
    if report.error is not None:
        try:
            exc = cloudpickle.loads(report.error)
        except Exception:
            exc = None
        if isinstance(exc, BaseException):
            exc.__cause__ = cause
            return exc
    exc = RayRemoteTaskError(f"{report.error_type}: {report.error_message}")
    exc.__cause__ = cause
    return exc


def _remote_cause(exc: BaseException) -> str:
    """The message of the exception raised on the Ray worker, without Ray's wrapping."""
    cause = getattr(exc, "cause", None) or exc
    return f"{type(cause).__name__}: {cause}"


@dataclass(frozen=True)
class TaskRun:
    """A finished try: its reference (unsigned, with type and size) and the worker's report."""

    ref: RayResultRef
    report: TaskReport


class RayResults:
    """Results of ``@task.ray`` tasks in one Ray cluster and namespace (one connection).

    .. code-block:: python

        results = RayHook("ray_default").results()
        ref = results.new_result("my_dag", run_id, "make")
        done = results.run(ref, cloudpickle.dumps((make, (), {})), options={"num_cpus": 1})
        value = results.materialize(results.reference(done.ref))
    """

    def __init__(
        self,
        settings: RaySettings,
        conn_id: str,
        *,
        deployment: Deployment | None = None,
        log: logging.Logger | Any = None,
    ) -> None:
        self.settings = settings
        self.conn_id = conn_id
        self._deployment = deployment
        self.log = log or _log
        self._registry: ray.actor.ActorHandle | None = None

    @property
    def deployment(self) -> Deployment:
        """The deployment given, else this process's (read each time: tests switch keys)."""
        return self._deployment or current_deployment()

    def connect(self) -> None:
        started = time.monotonic()
        _connect.connect(self.settings)
        self.log.debug("Ray connection ready in %.2fs", time.monotonic() - started)

    # ---- identity ------------------------------------------------------------------------

    def new_result(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1
    ) -> RayResultRef:
        """The identity of a new try's result: this deployment's slot and a fresh generation."""
        return RayResultRef(
            deployment=self.deployment.id,
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            map_index=-1 if map_index is None else map_index,
            generation=new_generation(),
            namespace=self.settings.namespace,
            ray_conn_id=self.conn_id,
            ray_address=self.settings.address if self.settings.address_from_task else None,
        )

    def reference(
        self,
        ref: RayResultRef,
        manifest: dict[str, Any] | None = None,
        checkpoint_conn_id: str | None = None,
    ) -> RayResultRef:
        """The signed reference of a finished try, naming its checkpoint if one was written."""
        if manifest:
            ref = replace(
                ref,
                checkpoint_uri=manifest["uri"],
                checkpoint_conn_id=checkpoint_conn_id,
                manifest_digest=manifest["digest"],
            )
        return ref.signed(self.deployment.key)

    # ---- one try ---------------------------------------------------------------------------

    def run(
        self,
        ref: RayResultRef,
        payload: bytes,
        *,
        upstream: list[RayResultRef] | None = None,
        options: dict[str, Any],
        label: str | None = None,
        awaiting_checkpoint: bool = False,
        on_submitted: Callable[[], None] | None = None,
        on_progress: Callable[[float], None] | None = None,
        warn: Callable[[str], None] | None = None,
        on_output: Emit | None = None,
        on_ray_task: Callable[[str], None] | None = None,
    ) -> TaskRun:
        """Run one try's payload on Ray and record its result; returns it with the report.

        Refuses a request no node can hold, restores upstream results Ray lost from their
        checkpoints, and reruns once if an upstream object vanishes mid-run. A failed try's
        result is discarded and its report returned (``report.ok`` is False; raise
        ``remote_exception(report)``). A try replaced by another while it ran is a
        :class:`RayResultSupersededError`.

        ``on_output(stream, line)`` receives what the callable prints while it runs (else the
        output comes back in the report); ``on_ray_task(url_path)`` is called once the task
        started, with its path in the Ray dashboard (``ray_dashboard_path``).
        """
        upstream = upstream or []
        label = label or ref.label
        watch = Watch(
            ref.key, ref.generation, capacity.request_of(options), label, warn or self.log.warning
        )

        def attempt() -> TaskReport:
            report_ref = self.start(ref, payload, upstream=upstream, options=options, label=label)
            if on_submitted is not None:
                on_submitted()
            live = None
            if on_output is not None:
                announce = self.dashboard_announcer(on_ray_task) if on_ray_task else None
                live = LiveLog(on_output, on_ray_task=announce)
            return self.wait(
                report_ref,
                poll_seconds=PROGRESS_LOG_SECONDS,
                on_progress=on_progress,
                watch=watch,
                live=live,
            )

        try:
            report = attempt()
        except ray.exceptions.ObjectLostError:
            if not upstream:
                raise
            # An upstream object was lost although the registry kept its key (node lost).
            self.discard(ref)
            self.recover_lost(upstream)
            report = attempt()
        return self.finish(ref, report, label=label, awaiting_checkpoint=awaiting_checkpoint)

    def start(
        self,
        ref: RayResultRef,
        payload: bytes,
        *,
        upstream: list[RayResultRef] | None = None,
        options: dict[str, Any],
        label: str | None = None,
    ) -> ray.ObjectRef:
        """Submit one try without waiting (``run`` waits; a deferrable task defers instead).

        Refuses a request no node can hold and restores upstream results Ray lost from their
        checkpoints first. Returns the ref of the task's report.
        """
        upstream = upstream or []
        if upstream:
            self.ensure_available(upstream)
        self.check_feasible(options, label or ref.label)
        return self.submit(ref, payload, upstream=upstream, options=options)

    def finish(
        self,
        ref: RayResultRef,
        report: TaskReport,
        *,
        label: str | None = None,
        awaiting_checkpoint: bool = False,
    ) -> TaskRun:
        """Record a finished try's result (or discard a failed one's); see ``run``."""
        if not report.ok:
            self.discard(ref)
            return TaskRun(ref, report)
        if not self.describe(ref, report.result_type, report.result_size, awaiting_checkpoint):
            raise RayResultSupersededError(
                f"{label or ref.label}: another try of this task replaced this try's result in "
                "Ray while it ran (this try was superseded); its result is not used."
            )
        done = replace(ref, result_type=report.result_type, size=report.result_size)
        return TaskRun(done, report)

    def item_keys(self, ref: RayResultRef) -> list[int | str] | None:
        """The result's list indices or dict keys (what ``.expand()`` maps over), else None."""
        [keys_ref] = self._call(lambda r: r.item_keys.remote(ref.key, ref.generation))
        return ray.get(keys_ref)

    def status(self, ref: RayResultRef) -> str:
        """``running``, ``done`` (its report is ready) or ``gone`` (cancelled, lost, replaced)."""
        return str(self._call(lambda r: r.status.remote(ref.key, ref.generation)))

    def resume(self, ref: RayResultRef, live: LiveLog) -> TaskReport:
        """The report of a try an earlier process submitted (a deferred task resuming).

        Logs the rest of its output through ``live``, from the cursor the trigger reached.
        """
        found = self._call(lambda r: r.report.remote(ref.key, ref.generation))
        if found is None:
            raise RayResultLostError(
                f"{ref.label}: the Ray task of this try is no longer known to the result "
                "registry (it was cancelled, Ray was restarted, or the run's results were "
                "released while the task was deferred). Clear the task to run it again."
            )
        report = ray.get(found[0])
        self.drain_output(ref.key, ref.generation, live)
        return report

    def adopt_awaiting_checkpoint(self, ref: RayResultRef) -> RayResultRef | None:
        """Take over an earlier try's value whose checkpoint failed; ``ref`` with its type/size.

        ``None`` when there is none (then the callable runs again).
        """
        previous = self.result_state(ref.key)
        if not previous or not previous["awaiting_checkpoint"]:
            return None
        if not self._call(
            lambda r: r.adopt.remote(ref.key, previous["generation"], ref.generation)
        ):
            return None
        return replace(ref, result_type=previous["result_type"], size=previous["size"])

    # ---- the registry actor ----------------------------------------------------------------

    def registry(self) -> ray.actor.ActorHandle:
        """The registry actor's handle, looked up (or created) once per client, not per call."""
        if self._registry is None:
            self.connect()
            self._registry = get_or_create_registry(
                self.settings.namespace, self.settings.result_ttl_seconds
            )
            if ray.get(self._registry.job_id.remote()) == ray.get_runtime_context().get_job_id():
                self.log.warning(
                    "Created the result registry from this task's Ray job: once this task "
                    "exits, Ray starts a new worker process for every later @task.ray task "
                    "(seconds each). Run `python -m ray_provider.cli.keeper --address %s` next "
                    "to the Ray head (make demo and the Helm chart do) to keep workers warm.",
                    self.settings.address,
                )
        return self._registry

    def _call(self, method: Callable[[ray.actor.ActorHandle], ray.ObjectRef]) -> Any:
        """``ray.get(method(registry))``: one remote call on the registry actor."""
        return ray.get(method(self.registry()))

    def _during_handover(self, call: Callable[[ray.actor.ActorHandle], Any]) -> Any:
        """``call(registry)``, again on the new registry if a keeper is replacing this one.

        A keeper retires a registry only while it holds no results, then kills it and creates
        its own (``ray_provider.runtime.keeper``); a submission that meets the retired one, or
        the killed one, waits for the new one. If the keeper vanished in between, the retired
        (empty) one is removed here.
        """
        deadline = time.monotonic() + REGISTRY_HANDOVER_SECONDS
        while True:
            registry = self.registry()
            try:
                return call(registry)
            except (RegistryRetiredError, ray.exceptions.RayActorError) as exc:
                # Killed by a keeper between our look-up and the call (a dead actor ran
                # nothing, so calling the new one is safe); a registry that keeps dying past
                # the deadline is a real failure.
                if isinstance(exc, ray.exceptions.RayActorError) and (time.monotonic() > deadline):
                    raise
                self._registry = None
                if time.monotonic() > deadline:
                    self.log.warning("The registry was retired but not replaced; replacing it")
                    ray.kill(registry, no_restart=True)
                    deadline = time.monotonic() + REGISTRY_HANDOVER_SECONDS
                time.sleep(0.2)

    # ---- the steps of a try (``run`` calls them in order) -------------------------------------

    def submit(
        self,
        ref: RayResultRef,
        payload: bytes,
        *,
        upstream: list[RayResultRef] | None = None,
        options: dict[str, Any],
    ) -> ray.ObjectRef:
        """Have the registry run the payload for ``ref``; returns the ref of the task's report."""
        upstream = upstream or []
        pinned = [(u.key, u.generation) for u in upstream]
        ttl = self.settings.result_ttl_seconds
        try:
            [report_ref] = self._during_handover(
                lambda registry: ray.get(
                    registry.submit.remote(
                        ref.key, ref.run_key, ref.generation, payload, pinned, options, ttl
                    )
                )
            )
        except ResultNotFoundError as exc:
            raise self._lost(upstream, missing_keys_of(exc)) from exc
        except ResultSupersededError as exc:
            raise self._superseded(upstream, superseded_keys_of(exc)) from exc
        return report_ref

    def check_feasible(self, options: dict[str, Any], label: str) -> None:
        """Refuse, before submitting, a request that no node of the cluster can ever hold.

        With an autoscaler the cluster may grow: then only a warning, and the wait's pending
        timeout decides.
        """
        shape = capacity.request_of(options)
        snapshot = self._call(lambda r: r.capacity.remote())
        if capacity.fits_some_node(snapshot, shape):
            return
        message = capacity.infeasible_message(snapshot, shape, label, snapshot["autoscaler"])
        if not snapshot["autoscaler"]:
            raise RayResourceError(message)
        self.log.warning("%s", message)

    def wait(
        self,
        report_ref: ray.ObjectRef,
        *,
        poll_seconds: float = 10.0,
        on_progress: Callable[[float], None] | None = None,
        watch: Watch | None = None,
        live: LiveLog | None = None,
    ) -> TaskReport:
        """Wait for a task's report without pulling its result, calling back while it runs.

        With ``watch``, a task that has not started after the connection's
        ``pending_timeout_seconds`` is cancelled and fails saying what it waited for, and a
        running task whose cluster has work waiting for resources that no node has free gets
        a warning in the log within a minute (what is pending, what holds the resources).
        With ``live`` (needs ``watch``), the task's output is read about every second and
        ends complete when the report is returned.
        """
        started = last_progress = last_watch = time.monotonic()
        stalled_since: float | None = None
        warned_at: float | None = None
        tick = min(WATCH_TICK_SECONDS, poll_seconds)
        if live is not None:
            tick = min(tick, OUTPUT_POLL_SECONDS)
        try_id = (watch.key, watch.generation) if watch is not None else None
        busy = False
        while True:
            timeout = BUSY_POLL_SECONDS if busy else tick
            ready, _ = ray.wait([report_ref], timeout=timeout, fetch_local=True)
            if live is not None and try_id is not None:
                if ready:
                    self.drain_output(*try_id, live)
                else:
                    busy = self.read_output(*try_id, live) >= BUSY_OUTPUT_CHARS
            if ready:
                return ray.get(report_ref)
            now = time.monotonic()
            if on_progress is not None and now - last_progress >= poll_seconds:
                last_progress = now
                on_progress(now - started)
            if watch is None or now - last_watch < WATCH_TICK_SECONDS - 0.01:
                continue
            last_watch = now
            registry = self.registry()
            started_on_worker = ray.get(registry.started.remote(watch.key, watch.generation))
            if started_on_worker is None:  # cancelled or replaced: only the report is awaited
                watch = None
                continue
            if not started_on_worker:
                waited = now - started
                if waited >= self.settings.pending_timeout_seconds:
                    snapshot = ray.get(registry.capacity.remote())
                    ray.get(registry.cancel.remote(watch.key, watch.generation))
                    raise RayResourceError(
                        capacity.pending_message(snapshot, watch.shape, watch.label, waited)
                    )
                continue
            message = capacity.stall_message(
                ray.get(registry.capacity.remote()), watch.shape, watch.label
            )
            if message is None:
                stalled_since = None
                continue
            stalled_since = stalled_since or now
            due = warned_at is None or now - warned_at >= STALL_REPEAT_SECONDS
            if now - stalled_since >= STALL_WARNING_SECONDS and due:
                warned_at = now
                watch.warn(message)

    def read_output(self, key: str, generation: str, live: LiveLog) -> int:
        """Log everything the try printed since ``live``'s cursor (reads until caught up);
        returns how many characters that was (dropped ones included)."""
        start = live.cursor
        while True:
            read = self._call(lambda r: r.read_output.remote(key, generation, live.cursor))
            live.feed(read)
            if not read.get("more"):
                return live.cursor - start

    def drain_output(self, key: str, generation: str, live: LiveLog) -> None:
        """Log the rest of a finished try's output, then let the registry forget it."""
        while True:
            before = live.cursor
            self.read_output(key, generation, live)
            if live.closed or live.cursor == before:
                break
        live.finish()
        self._call(lambda r: r.forget_output.remote(key, generation))

    def dashboard_announcer(self, on_ray_task: Callable[[str], None]) -> Callable[[str], None]:
        """``on_ray_task`` given the dashboard path of a Ray task id (``LiveLog.on_ray_task``)."""

        def announce(ray_task_id: str) -> None:
            on_ray_task(self.ray_dashboard_path(ray_task_id))

        return announce

    def ray_dashboard_path(self, ray_task_id: str) -> str:
        """The Ray dashboard's page of a task the registry ran (``#/jobs/JOB/tasks/TASK``)."""
        job_id = self._call(lambda r: r.job_id.remote())
        return f"#/jobs/{job_id}/tasks/{ray_task_id}"

    def describe(
        self, ref: RayResultRef, result_type: str, size: int, awaiting_checkpoint: bool = False
    ) -> bool:
        """Record the finished result of this try; False if another try owns the key now."""
        return bool(
            self._call(
                lambda r: r.describe.remote(
                    ref.key, ref.generation, result_type, size, awaiting_checkpoint
                )
            )
        )

    def result_state(self, key: str) -> dict[str, Any] | None:
        """What the registry knows of the finished result under ``key``, or ``None``."""
        return self._call(lambda r: r.state.remote(key))

    def discard(self, ref: RayResultRef) -> bool:
        """Forget this try's result; a newer try's result under the key is left alone."""
        return bool(self._call(lambda r: r.discard.remote(ref.key, ref.generation)))

    def cancel(self, ref: RayResultRef) -> None:
        """Cancel this try's Ray task; a newer try's task under the key is left alone."""
        self._call(lambda r: r.cancel.remote(ref.key, ref.generation))

    def cancel_running(self, key: str) -> bool:
        """Cancel whichever try's task under ``key`` is still running (a timed-out deferral,
        whose resumed process no longer knows the try's generation); True if one was."""
        return bool(self._call(lambda r: r.cancel_running.remote(key)))

    # ---- checkpoints -----------------------------------------------------------------------

    def write_checkpoint(self, ref: RayResultRef, config: Any, prefix: str) -> dict[str, Any]:
        """Have a Ray worker write the result to the store; returns the manifest."""
        registry = self.registry()
        [manifest_ref] = ray.get(
            registry.checkpoint.remote(ref.key, ref.generation, config, prefix)
        )
        try:
            manifest = ray.get(manifest_ref)
        except Exception as exc:
            raise CheckpointWriteError(
                f"Writing the checkpoint of {ref.key} to {config.uri(prefix)} failed: "
                f"{_remote_cause(exc)} The result is still in Ray: a retry of the task only "
                "writes the checkpoint."
            ) from exc
        ray.get(registry.mark_checkpointed.remote(ref.key, ref.generation, manifest["uri"]))
        return manifest

    def ensure_available(self, refs: list[RayResultRef]) -> list[dict[str, Any]]:
        """Restore from their checkpoints the results Ray no longer has; returns manifests.

        A result without a checkpoint that is gone is a :class:`RayResultLostError` naming
        the upstream task to clear; one replaced by a newer try is a
        :class:`RayResultSupersededError` (never the newer value in its place).
        """
        if not refs:
            return []
        presence = self._call(lambda r: r.presence.remote([(x.key, x.generation) for x in refs]))
        superseded = [r.key for r in refs if presence[r.key] == "superseded"]
        if superseded:
            raise self._superseded(refs, superseded)
        missing = [r for r in refs if presence[r.key] == "missing"]
        lost = [r for r in missing if not r.checkpoint_uri]
        if lost:
            raise self._lost(refs, [r.key for r in lost])
        return [self.restore(ref) for ref in missing]

    def restore(self, ref: RayResultRef) -> dict[str, Any]:
        """Load ``ref``'s checkpoint back into Ray under its own generation; the manifest."""
        # The store's credentials are an Airflow connection (the aws one named in the ref).
        from ray_provider.hooks.checkpoint_store import CheckpointStoreHook

        started = time.monotonic()
        store = CheckpointStoreHook(ref.checkpoint_conn_id or "aws_default")
        config, prefix = store.for_uri(ref.checkpoint_uri, why=f"restoring {ref.label!r}")
        ttl = self.settings.result_ttl_seconds
        try:
            [manifest_ref] = self._during_handover(
                lambda registry: ray.get(
                    registry.restore.remote(
                        ref.key,
                        ref.run_key,
                        ref.generation,
                        config,
                        prefix,
                        ref.manifest_digest,
                        ttl,
                    )
                )
            )
        except ResultSupersededError as exc:
            raise self._superseded([ref], [ref.key]) from exc
        registry = self.registry()
        try:
            manifest = ray.get(manifest_ref)
        except Exception as exc:
            ray.get(registry.discard.remote(ref.key, ref.generation))
            raise CheckpointRestoreError(
                f"The result of {ref.label!r} is no longer in Ray and restoring it from "
                f"{ref.checkpoint_uri} failed: {_remote_cause(exc)}"
            ) from exc
        ray.get(
            registry.describe.remote(ref.key, ref.generation, manifest["type"], manifest["size"])
        )
        ray.get(registry.mark_checkpointed.remote(ref.key, ref.generation, ref.checkpoint_uri))
        manifest["seconds"] = time.monotonic() - started
        self.log.info(
            "restored %s from %s (%s, %.1fs)",
            ref.label,
            ref.checkpoint_uri,
            human_size(manifest["size"]),
            manifest["seconds"],
        )
        return manifest

    def recover_lost(self, refs: list[RayResultRef]) -> None:
        """Ray lost these objects although the registry holds their keys: restore them all.

        Which one was lost is not always known (a consumer fails as a whole), so every
        checkpointed one is reloaded; without checkpoints this is a RayResultLostError.
        """
        without = [r for r in refs if not r.checkpoint_uri]
        if without:
            raise self._lost(refs, [r.key for r in without])
        registry = self.registry()
        for ref in refs:
            self.log.warning("Ray lost the result of %s; restoring it", ref.label)
            ray.get(registry.discard.remote(ref.key, ref.generation))
            self.restore(ref)

    # ---- reading and releasing ---------------------------------------------------------------

    def materialize(self, ref: RayResultRef) -> Any:
        """Fetch a result into this process (for plain ``@task`` consumers)."""
        self.ensure_available([ref])
        try:
            value = self._fetch(ref)
        except ray.exceptions.ObjectLostError:
            # The registry still had the key but Ray lost the object (a node died).
            self.recover_lost([ref])
            value = self._fetch(ref)
        return restore(value)

    def _fetch(self, ref: RayResultRef) -> Any:
        try:
            [object_ref] = self._call(lambda r: r.lookup.remote(ref.key, ref.generation))
        except ResultNotFoundError as exc:
            raise self._lost([ref], [ref.key]) from exc
        except ResultSupersededError as exc:
            raise self._superseded([ref], [ref.key]) from exc
        return ray.get(object_ref)

    def release_run(self, dag_id: str, run_id: str, ended_at: float | None = None) -> int:
        """Drop this deployment's results of a run made before ``ended_at`` (default now)."""
        key = run_key(self.deployment.id, dag_id, run_id)
        return int(self._call(lambda r: r.release_run.remote(key, ended_at)))

    def stats(self) -> dict[str, Any]:
        """The registry's counts (results, runs, bytes, ...), for logs and tests."""
        return dict(self._call(lambda r: r.stats.remote()))

    # ---- messages ---------------------------------------------------------------------------

    def _superseded(self, upstream: list[RayResultRef], keys: list[str]) -> Exception:
        by_key = {u.key: u for u in upstream}
        tasks = ", ".join(repr(by_key[k].label) if k in by_key else repr(k) for k in keys)
        return RayResultSupersededError(
            f"Upstream task(s) {tasks} ran again since this task's reference was made: Ray "
            "now holds a newer try's result, which is not the value this task was given. "
            "Refusing to use either; clear this task once the upstream task(s) finished."
        )

    def _lost(self, upstream: list[RayResultRef], missing_keys: list[str]) -> RayResultLostError:
        by_key = {u.key: u for u in upstream}
        tasks = ", ".join(repr(by_key[k].label) if k in by_key else repr(k) for k in missing_keys)
        return RayResultLostError(
            f"The result of upstream task(s) {tasks} is no longer in Ray (namespace "
            f"{self.settings.namespace!r}): Ray was restarted, the node holding it was lost, "
            "or the run's results were released. Clear those upstream task(s) so they run "
            "again (or enable checkpoint=True on them to restore from the checkpoint store)."
        )
