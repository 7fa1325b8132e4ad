"""``RayHook``: owns the connection to Ray and the calls to the result registry.

Operators, the decorator, the XCom backend and the run-end listener all go through this hook;
none of them talks to Ray directly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ray
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from ray_provider.client import connect as _connect
from ray_provider.client.reference import RayResultRef
from ray_provider.client.settings import RaySettings, settings_from_connection
from ray_provider.exceptions import (
    CheckpointRestoreError,
    CheckpointWriteError,
    RayConnectionNotFoundError,
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
from ray_provider.runtime.portable import restore
from ray_provider.runtime.registry import get_or_create_registry

# How long a submission waits for a keeper to finish replacing a retired registry.
REGISTRY_HANDOVER_SECONDS = 30.0
# A watched wait looks at the task and the cluster this often; it warns of work stuck waiting
# for resources once that lasted this long (so within a minute), then again at most this often.
WATCH_TICK_SECONDS = 5.0
STALL_WARNING_SECONDS = 40.0
STALL_REPEAT_SECONDS = 300.0


@dataclass(frozen=True)
class Watch:
    """What a wait watches: one try's task and the resources it asked for."""

    key: str
    generation: str
    shape: dict[str, float]
    label: str
    # Where warnings of stuck work go (``@task.ray`` passes its task log's).
    warn: Callable[[str], None] = logging.getLogger(__name__).warning


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{value:.1f} GiB"


def _remote_cause(exc: BaseException) -> str:
    """The message of the exception raised on the Ray worker, without Ray's wrapping."""
    cause = getattr(exc, "cause", None) or exc
    return f"{type(cause).__name__}: {cause}"


class RayHook(BaseHook):
    """Connect to a Ray cluster and keep task results in its object store.

    The connection's host is the address: ``ray://HOST:10001`` (Ray Client), ``HOST:6379``
    (join as a driver) or ``local`` (reuse or start a Ray head on this machine). The password is
    the cluster's auth token. Extras: ``namespace``, ``runtime_env`` (JSON), ``connect_timeout``
    and ``result_ttl_seconds``. ``RAY_URL`` in the environment overrides the address.

    A missing connection is an error that shows how to define one: a local, unauthenticated
    Ray head is started only for a connection that asks for it (host ``local``).

    .. code-block:: python

        hook = RayHook("ray_default")
        hook.connect()
        print(hook.registry_stats())
    """

    conn_name_attr = "ray_conn_id"
    default_conn_name = "ray_default"
    conn_type = "ray"
    hook_name = "Ray"

    def __init__(self, ray_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ray_conn_id = ray_conn_id
        self._settings: RaySettings | None = None
        self._registry: ray.actor.ActorHandle | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "login", "port"],
            "relabeling": {"host": "Ray address", "password": "Auth token"},
            "placeholders": {
                "host": "ray://ray-head:10001 | ray-head:6379 | local",
                "password": "the cluster's RAY_AUTH_TOKEN (leave empty if auth is off)",
                "extra": '{"namespace": "airflow", "runtime_env": {"pip": []}}',
            },
        }

    @property
    def settings(self) -> RaySettings:
        if self._settings is None:
            try:
                conn = self.get_connection(self.ray_conn_id)
            except AirflowNotFoundException as exc:
                raise RayConnectionNotFoundError(
                    f"No Airflow connection {self.ray_conn_id!r}. Create it, e.g. "
                    f'AIRFLOW_CONN_{self.ray_conn_id.upper()}=\'{{"conn_type": "ray", '
                    f'"host": "ray://HOST:10001", "password": "TOKEN"}}\' or `airflow '
                    f"connections add {self.ray_conn_id} --conn-type ray --conn-host "
                    "ray://HOST:10001`, or pass the id of an existing connection as "
                    'ray_conn_id. For a Ray head on this machine use "host": "local" '
                    "(explicitly: it is not authenticated)."
                ) from exc
            self._settings = settings_from_connection(conn, self.ray_conn_id)
        return self._settings

    def get_conn(self) -> RaySettings:
        """Connect (once per process) and return the settings in use."""
        self.connect()
        return self.settings

    def connect(self) -> None:
        started = time.monotonic()
        _connect.connect(self.settings)
        self.log.debug("Ray connection ready in %.2fs", time.monotonic() - started)

    def registry(self) -> ray.actor.ActorHandle:
        """The registry actor's handle, looked up (or created) once per hook, not per call."""
        if self._registry is None:
            self.connect()
            self._registry = get_or_create_registry(
                self.settings.namespace, self.settings.result_ttl_seconds
            )
            if ray.get(self._registry.job_id.remote()) == ray.get_runtime_context().get_job_id():
                self.log.warning(
                    "Created the result registry from this task's Ray job: once this task "
                    "exits, Ray starts a new worker process for every later @task.ray task "
                    "(seconds each). Run `python -m ray_provider.cli.keeper --address %s` next to "
                    "the Ray head (make demo and the Helm chart do) to keep workers warm.",
                    self.settings.address,
                )
        return self._registry

    def submit(
        self,
        *,
        key: str,
        run_key: str,
        generation: str,
        payload: bytes,
        upstream: list[RayResultRef],
        options: dict[str, Any],
    ) -> ray.ObjectRef:
        """Have the registry run the payload; returns the ref of the task's report."""
        pinned = [(u.key, u.generation) for u in upstream]
        ttl = self.settings.result_ttl_seconds
        try:
            [report_ref] = self._during_handover(
                lambda registry: ray.get(
                    registry.submit.remote(key, run_key, generation, payload, pinned, options, ttl)
                )
            )
        except ResultNotFoundError as exc:
            raise self._lost(upstream, missing_keys_of(exc)) from exc
        except ResultSupersededError as exc:
            raise self._superseded(upstream, superseded_keys_of(exc)) from exc
        return report_ref

    def _during_handover(self, call: Callable[[ray.actor.ActorHandle], Any]) -> Any:
        """``call(registry)``, again on the new registry if a keeper is replacing this one.

        A keeper retires a registry only while it holds no results, then kills it and creates
        its own (``ray_provider.cli.keeper``); a submission that meets the retired one waits for
        the new one. If the keeper vanished in between, the retired (empty) one is removed here.
        """
        deadline = time.monotonic() + REGISTRY_HANDOVER_SECONDS
        while True:
            registry = self.registry()
            try:
                return call(registry)
            except RegistryRetiredError:
                self._registry = None
                if time.monotonic() > deadline:
                    self.log.warning("The registry was retired but not replaced; replacing it")
                    ray.kill(registry, no_restart=True)
                    deadline = time.monotonic() + REGISTRY_HANDOVER_SECONDS
                time.sleep(0.2)

    def check_feasible(self, options: dict[str, Any], label: str) -> None:
        """Refuse, before submitting, a request that no node of the cluster can ever hold.

        With an autoscaler the cluster may grow: then only a warning, and the wait's pending
        timeout decides.
        """
        shape = capacity.request_of(options)
        snapshot = ray.get(self.registry().capacity.remote())
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
    ) -> Any:
        """Wait for a task's report without pulling its result, calling back while it runs.

        With ``watch``, a task that has not started after the connection's
        ``pending_timeout_seconds`` is cancelled and fails saying what it waited for, and a
        running task whose cluster has work waiting for resources that no node has free gets
        a warning in the log within a minute (what is pending, what holds the resources).
        """
        started = last_progress = time.monotonic()
        stalled_since: float | None = None
        warned_at: float | None = None
        tick = min(WATCH_TICK_SECONDS, poll_seconds)
        while True:
            ready, _ = ray.wait([report_ref], timeout=tick, fetch_local=True)
            if ready:
                return ray.get(report_ref)
            now = time.monotonic()
            if on_progress is not None and now - last_progress >= poll_seconds:
                last_progress = now
                on_progress(now - started)
            if watch is None:
                continue
            registry = self.registry()
            started_on_worker = ray.get(registry.started.remote(watch.key, watch.generation))
            if started_on_worker is None:  # cancelled or replaced: only the report is awaited
                watch = None
                continue
            if not started_on_worker:
                waited = now - started
                if waited >= self.settings.pending_timeout_seconds:
                    snapshot = ray.get(registry.capacity.remote())
                    self.cancel(watch.key, watch.generation)
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

    def describe(
        self,
        key: str,
        generation: str,
        result_type: str,
        size: int,
        awaiting_checkpoint: bool = False,
    ) -> bool:
        """Record the finished result of this try; False if another try owns the key now."""
        return bool(
            ray.get(
                self.registry().describe.remote(
                    key, generation, result_type, size, awaiting_checkpoint
                )
            )
        )

    def result_state(self, key: str) -> dict[str, Any] | None:
        """What the registry knows of the finished result under ``key``, or ``None``."""
        return ray.get(self.registry().state.remote(key))

    def adopt(self, key: str, generation: str, new_generation: str) -> bool:
        """Take over an earlier try's computed result that still awaits its checkpoint."""
        return bool(ray.get(self.registry().adopt.remote(key, generation, new_generation)))

    def write_checkpoint(
        self, key: str, generation: str, config: Any, prefix: str
    ) -> dict[str, Any]:
        """Have a Ray worker write the result to the store; returns the manifest."""
        registry = self.registry()
        [manifest_ref] = ray.get(registry.checkpoint.remote(key, generation, config, prefix))
        try:
            manifest = ray.get(manifest_ref)
        except Exception as exc:
            raise CheckpointWriteError(
                f"Writing the checkpoint of {key} to {config.uri(prefix)} failed: "
                f"{_remote_cause(exc)} The result is still in Ray: a retry of the task only "
                "writes the checkpoint."
            ) from exc
        ray.get(registry.mark_checkpointed.remote(key, generation, manifest["uri"]))
        return manifest

    def ensure_available(self, refs: list[RayResultRef]) -> list[dict[str, Any]]:
        """Restore from their checkpoints the results Ray no longer has; returns manifests.

        A result without a checkpoint that is gone is a :class:`RayResultLostError` naming
        the upstream task to clear; one replaced by a newer try is a
        :class:`RayResultSupersededError` (never the newer value in its place).
        """
        if not refs:
            return []
        presence = ray.get(self.registry().presence.remote([(r.key, r.generation) for r in refs]))
        superseded = [r.key for r in refs if presence[r.key] == "superseded"]
        if superseded:
            raise self._superseded(refs, superseded)
        missing = [r for r in refs if presence[r.key] == "missing"]
        lost = [r for r in missing if not r.checkpoint_uri]
        if lost:
            raise self._lost(refs, [r.key for r in lost])
        return [self.restore(ref) for ref in missing]

    def restore(self, ref: RayResultRef) -> dict[str, Any]:
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

    def discard(self, key: str, generation: str) -> bool:
        """Forget this try's result; a newer try's result under the key is left alone."""
        return bool(ray.get(self.registry().discard.remote(key, generation)))

    def cancel(self, key: str, generation: str) -> None:
        """Cancel this try's Ray task; a newer try's task under the key is left alone."""
        ray.get(self.registry().cancel.remote(key, generation))

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
            [object_ref] = ray.get(self.registry().lookup.remote(ref.key, ref.generation))
        except ResultNotFoundError as exc:
            raise self._lost([ref], [ref.key]) from exc
        except ResultSupersededError as exc:
            raise self._superseded([ref], [ref.key]) from exc
        return ray.get(object_ref)

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

    def release_run(self, run_key: str, ended_at: float | None = None) -> int:
        """Drop a run's results made before ``ended_at`` (epoch seconds; default now)."""
        return int(ray.get(self.registry().release_run.remote(run_key, ended_at)))

    def registry_stats(self) -> dict[str, Any]:
        return dict(ray.get(self.registry().stats.remote()))

    def test_connection(self) -> tuple[bool, str]:
        """Used by the UI's Test button: connect and report the cluster's resources."""
        try:
            self.connect()
            resources = ray.cluster_resources()
        except Exception as exc:
            return False, str(exc)
        return True, (
            f"Connected to Ray {ray.__version__} at {self.settings.address}: "
            f"{resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs"
        )

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
