"""``@task.ray``: run a TaskFlow callable on Ray, keep the result in the Ray object store.

.. code-block:: python

    from airflow.sdk import dag, task

    @dag(schedule=None)
    def pipeline():
        @task.ray(num_cpus=2)
        def make():
            import numpy as np
            return np.arange(10_000_000)

        @task.ray
        def total(values):  # receives the array straight from the object store
            return int(values.sum())

        @task
        def report(value):  # a plain task gets the value (RayXComBackend)
            print(value)

        report(total(make()))
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from airflow.sdk import conf
from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR
from airflow.sdk.definitions.context import KNOWN_CONTEXT_KEYS, context_merge

from ray_provider.client.live_log import LiveLog
from ray_provider.client.reference import RayResultRef
from ray_provider.client.results import RayResults, RemoteTraceback, remote_exception
from ray_provider.client.units import human_size
from ray_provider.config_options import (
    DEFAULT_DEFERRABLE_POLL_SECONDS,
    DEFERRABLE,
    DEFERRABLE_POLL_SECONDS,
    SECTION,
)
from ray_provider.decorators.deferral import deferral_timeout, wait_for_start
from ray_provider.decorators.options import (
    loggable_options,
    ray_options,
    refuse_multiple_outputs,
)
from ray_provider.decorators.payload import (
    build_payload,
    check_requested_context,
    extract_upstream,
    select_context,
)
from ray_provider.exceptions import RayArgumentError, RayReferenceError
from ray_provider.hooks.checkpoint_store import CheckpointStoreHook, split_s3_uri
from ray_provider.hooks.ray import RayHook, hook_for_task
from ray_provider.links import RayDashboardLink, dashboard_url
from ray_provider.triggers.ray_task import RayTaskTrigger
from ray_provider.xcom import references_only

DEFAULT_CHECKPOINT_CONN_ID = "aws_default"


def _cluster_label(address: str | None) -> str:
    return f"the per-run cluster at {address}" if address else "the connection's own cluster"


# CPUs of a task when neither it nor its connection says (Ray's own default for a task).
DEFAULT_NUM_CPUS = 1


class RayDecoratedOperator(DecoratedOperator):
    """Runs ``python_callable`` as a Ray task through the connection's result registry.

    :param ray_conn_id: the Ray connection (``ray_default``: local Ray when not defined).
    :param num_cpus: CPUs the Ray task reserves (default: the connection's ``num_cpus``
        extra, else 1).
    :param num_gpus: GPUs the Ray task reserves (default: the connection's ``num_gpus``
        extra, else none).
    :param memory: memory the Ray task reserves, bytes or a size string (``"4GiB"``).
    :param resources: custom Ray resources, e.g. ``{"accelerator_type:A100": 1}``.
    :param runtime_env: Ray runtime environment, merged over the connection's.
    :param checkpoint: also write the result to the checkpoint store, and restore it from
        there when a consumer finds it gone from Ray.
    :param checkpoint_conn_id: the ``aws`` connection of the store (default ``aws_default``).
    :param checkpoint_path: ``s3://bucket/prefix`` overriding the connection's bucket/prefix.
    :param deferrable: submit, then wait in the triggerer (no worker slot held while Ray
        works); default ``[ray_provider] deferrable``. ``execution_timeout`` still applies:
        when it passes, the Ray task is cancelled.
    :param ray_cluster: run on a per-run cluster: the output of a
        ``RayClusterSetupOperator`` (its signed handle), or a Ray address. The connection
        still gives the token, namespace and runtime_env. Default: the connection's cluster.
    """

    custom_operator_name = "@task.ray"
    operator_extra_links = (RayDashboardLink(),)
    template_fields: Sequence[str] = ("op_args", "op_kwargs", "runtime_env", "ray_cluster")
    template_fields_renderers = {"op_args": "py", "op_kwargs": "py", "runtime_env": "json"}

    def __init__(
        self,
        *,
        python_callable: Callable,
        op_args: Sequence[Any] | None = None,
        op_kwargs: dict[str, Any] | None = None,
        ray_conn_id: str = RayHook.default_conn_name,
        num_cpus: float | None = None,
        num_gpus: float | None = None,
        memory: int | str | None = None,
        resources: dict[str, float] | None = None,
        runtime_env: dict[str, Any] | None = None,
        checkpoint: bool = False,
        checkpoint_conn_id: str | None = None,
        checkpoint_path: str | None = None,
        deferrable: bool | None = None,
        ray_cluster: Any = None,
        **kwargs: Any,
    ) -> None:
        refuse_multiple_outputs(kwargs.get("multiple_outputs"), "@task.ray")
        kwargs["multiple_outputs"] = False
        check_requested_context(
            list(inspect.signature(python_callable).parameters),
            KNOWN_CONTEXT_KEYS,
            f"Task {kwargs.get('task_id')!r}",
        )
        super().__init__(
            python_callable=python_callable, op_args=op_args, op_kwargs=op_kwargs, **kwargs
        )
        self.ray_conn_id = ray_conn_id
        self.ray_cluster = ray_cluster
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.memory = memory
        # Not `self.resources`: BaseOperator converts that attribute to Airflow Resources.
        self.ray_resources = resources
        self.runtime_env = runtime_env
        self.checkpoint = checkpoint
        self.checkpoint_conn_id = checkpoint_conn_id or DEFAULT_CHECKPOINT_CONN_ID
        self.checkpoint_path = checkpoint_path
        if deferrable is None:
            deferrable = conf.getboolean(SECTION, DEFERRABLE, fallback=False)
        self.deferrable = deferrable
        if checkpoint_path:
            split_s3_uri(checkpoint_path, "checkpoint_path")
        self._results: RayResults | None = None
        self._slot: RayResultRef | None = None
        # Fail at parse time, not at run time, on resource arguments that cannot work.
        ray_options(
            name="validation",
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            memory=memory,
            resources=resources,
            runtime_env=runtime_env if not isinstance(runtime_env, str) else None,
            connection_runtime_env={},
        )

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        # Upstream @task.ray results must reach us as references, not fetched values.
        with references_only():
            super().render_template_fields(context, jinja_env)

    def execute(self, context: Any) -> Any:
        ti = context["ti"]
        label = f"{ti.dag_id}.{ti.task_id}"
        results = self._results = self._hook(ti).results()
        if self.checkpoint:
            results.deployment.require_key(f"checkpoint=True on {label}")
        results.connect()
        slot = self._slot = _new_slot(results, ti)
        done = results.adopt_awaiting_checkpoint(slot) if self.checkpoint else None
        if done is not None:
            # An earlier try computed the value and only its checkpoint failed: keep the value.
            self.log.info(
                "Reusing the result computed by an earlier try (%s, %s bytes), kept in Ray; "
                "only its checkpoint is written now.",
                done.result_type,
                f"{done.size:,}",
            )
        elif self.deferrable:
            self._submit_and_defer(context, results, slot, label)
        else:
            done = self._compute(context, results, slot, label)
        return self._complete(results, done)

    def _hook(self, ti: Any) -> RayHook:
        """The connection's hook, on the per-run cluster when ``ray_cluster`` names one."""
        return hook_for_task(self.ray_conn_id, self.ray_cluster, ti)

    def remote_callable(self) -> Callable:
        """What runs on Ray: the callable itself (a subclass may wrap it)."""
        return self.python_callable

    def _complete(self, results: RayResults, done: RayResultRef) -> Any:
        """Checkpoint (if asked) and return the reference XCom keeps."""
        manifest = self._write_checkpoint(results, done) if self.checkpoint else None
        ref = results.reference(done, manifest, self.checkpoint_conn_id)
        dependants = self._mapped_dependants()
        # A mapped task's own result is one item of its downstream mapping (one per index).
        if dependants and done.map_index < 0:
            items = self._output_for_mapping(results, ref.signed(None), dependants)
            self.log.info(
                "%d item(s) for %s to map over, each a reference to one item in Ray",
                len(items),
                ", ".join(dependants),
            )
            return self._handle_output(items)
        return self._handle_output(ref.to_xcom())

    def _submit_and_defer(
        self, context: Any, results: RayResults, slot: RayResultRef, label: str
    ) -> None:
        ti = context["ti"]
        payload, options, upstream = self._prepare(context, results, label)
        results.start(slot, payload, upstream=upstream, options=options, label=label)
        self.log.info(
            "Submitted %s to Ray at %s with %s; waiting in the triggerer (deferrable=True)",
            label,
            results.settings.address,
            loggable_options(options),
        )
        live = LiveLog(self._log_output_line, on_ray_task=self._link_publisher(ti, results))
        linked = wait_for_start(results, slot, live)
        signed = slot.signed(results.deployment.key).to_xcom()
        self.defer(
            trigger=RayTaskTrigger(
                signed,
                cursor=live.cursor,
                partial=live.partial,
                poll_seconds=conf.getfloat(
                    SECTION, DEFERRABLE_POLL_SECONDS, fallback=DEFAULT_DEFERRABLE_POLL_SECONDS
                ),
            ),
            method_name="execute_complete",
            kwargs={"ref": signed, "linked": linked},
            timeout=deferral_timeout(self.execution_timeout, ti.start_date),
        )

    def execute_complete(
        self, context: Any, event: dict[str, Any], ref: dict[str, Any], linked: bool = True
    ) -> Any:
        """Resumed from the trigger: log the rest of the output, record the result.

        ``linked`` is False when the Ray task had not started before the deferral: its
        dashboard link is published now.
        """
        ti = context["ti"]
        label = f"{ti.dag_id}.{ti.task_id}"
        results = self._results = self._hook(ti).results()
        results.connect()
        slot = self._slot = self._deferred_slot(results, ti, ref)
        live = LiveLog(
            self._log_output_line,
            cursor=event["cursor"],
            partial=event["partial"],
            on_ray_task=None if linked else self._link_publisher(ti, results),
        )
        report = results.resume(slot, live)
        run = results.finish(slot, report, label=label, awaiting_checkpoint=self.checkpoint)
        return self._complete(results, self._report_outcome(run.report, run.ref, label))

    def _deferred_slot(self, results: RayResults, ti: Any, ref: dict[str, Any]) -> RayResultRef:
        """The try named in the deferral's kwargs, checked: they come back from the database."""
        slot = RayResultRef.from_xcom(ref)
        expected = _new_slot(results, ti)
        if slot is None or slot.key != expected.key:
            raise RayReferenceError(
                f"{ti.dag_id}.{ti.task_id}: the deferral's kwargs do not name this task's own "
                "Ray try; refusing to resume from them. Clear the task to run it again."
            )
        slot.check_in_run(results.deployment, ti.dag_id, ti.run_id)
        return slot.signed(None)

    def resume_execution(
        self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any
    ) -> Any:
        if next_method == TRIGGER_FAIL_REPR:
            # The deferral timed out (execution_timeout) or the trigger failed: stop Ray's work.
            ti = context["ti"]
            results = self._hook(ti).results()
            slot = _new_slot(results, ti)
            try:
                if results.cancel_running(slot.key):
                    self.log.warning("Cancelled the Ray task of %s", slot.label)
            except Exception as exc:
                self.log.warning("Could not cancel the Ray task of %s: %s", slot.label, exc)
        return super().resume_execution(next_method, next_kwargs, context)

    def _mapped_dependants(self) -> list[str]:
        return [d.node_id for d in self.iter_mapped_dependants()]

    def _output_for_mapping(
        self, results: RayResults, ref: RayResultRef, dependants: list[str]
    ) -> list[dict[str, Any]] | dict[str, dict[str, Any]]:
        """What XCom holds when tasks ``.expand()`` over this result: one reference per item.

        Airflow learns the number of mapped tasks from the list's (or dict's) length; each
        mapped task gets its item's reference, and a mapped ``@task.ray`` reads only that item
        from the object store. The value itself never leaves Ray.
        """
        keys = results.item_keys(ref)
        if keys is None:
            raise RayArgumentError(
                f"{', '.join(dependants)} map(s) over the result of @task.ray task "
                f"{self.task_id!r} with .expand(), but it returned {ref.result_type}, not a "
                "list, tuple or dict. Return the items to map over as a list (or a dict)."
            )
        key = results.deployment.key
        if all(isinstance(k, int) for k in keys):
            return [ref.item_ref(k, key).to_xcom() for k in keys]
        if not all(isinstance(k, str) for k in keys):
            raise RayArgumentError(
                f"{', '.join(dependants)} map(s) over the dict returned by @task.ray task "
                f"{self.task_id!r}, whose keys are not all strings; Airflow maps over a dict "
                "through XCom (JSON), so use string keys."
            )
        return {k: ref.item_ref(k, key).to_xcom() for k in keys}

    def _checked_upstream(
        self, upstream: list[RayResultRef], ti: Any, results: RayResults, label: str
    ) -> None:
        """Refuse upstream results kept in another Ray namespace.

        (Each reference's signature and run were checked as ``extract_upstream`` found it.)
        """
        here = results.settings.address if results.settings.address_from_task else None
        for ref in upstream:
            if ref.ray_address != here:
                raise RayArgumentError(
                    f"{label}: upstream task {ref.label!r} kept its result on "
                    f"{_cluster_label(ref.ray_address)}, this task runs on "
                    f"{_cluster_label(here)}. Give both tasks the same ray_cluster."
                )
            if ref.namespace != results.settings.namespace:
                raise RayArgumentError(
                    f"{label}: upstream task {ref.label!r} kept its result in Ray namespace "
                    f"{ref.namespace!r}, this task uses {results.settings.namespace!r} "
                    f"(connection {self.ray_conn_id!r}). Use the same Ray connection for both "
                    "tasks."
                )

    def _compute(
        self, context: Any, results: RayResults, slot: RayResultRef, label: str
    ) -> RayResultRef:
        """Run the callable on Ray; returns ``slot`` with the result's type and size."""
        ti = context["ti"]
        payload, options, upstream = self._prepare(context, results, label)
        run = results.run(
            slot,
            payload,
            upstream=upstream,
            options=options,
            label=label,
            awaiting_checkpoint=self.checkpoint,
            on_submitted=lambda: self.log.info(
                "Submitted %s to Ray at %s with %s",
                label,
                results.settings.address,
                loggable_options(options),
            ),
            on_progress=lambda s: self.log.info("%s still running on Ray (%.0fs)", label, s),
            warn=self.log.warning,
            on_output=self._log_output_line,
            on_ray_task=lambda path: self._publish_link(ti, results, path),
        )
        return self._report_outcome(run.report, run.ref, label)

    def _prepare(
        self, context: Any, results: RayResults, label: str
    ) -> tuple[bytes, dict[str, Any], list[RayResultRef]]:
        """The pickled callable, its Ray options and the upstream results it reads."""
        ti = context["ti"]
        context_merge(context, self.op_kwargs)
        kwargs = select_context(
            dict(self.determine_kwargs(context)), set(self.op_kwargs), KNOWN_CONTEXT_KEYS
        )
        args, kwargs, upstream = extract_upstream(
            self.op_args,
            kwargs,
            verify=lambda ref: ref.check_in_run(results.deployment, ti.dag_id, ti.run_id),
        )
        self._checked_upstream(upstream, ti, results, label)
        payload = build_payload(
            self.remote_callable(),
            args,
            kwargs,
            dags_folder=conf.get("core", "dags_folder", fallback=None),
            bundle_path=getattr(getattr(ti, "bundle_instance", None), "path", None),
            task_label=label,
        )
        num_cpus, num_gpus = results.settings.task_resources(self.num_cpus, self.num_gpus)
        options = ray_options(
            name=ray_task_name(ti),
            num_cpus=DEFAULT_NUM_CPUS if num_cpus is None else num_cpus,
            num_gpus=num_gpus,
            memory=self.memory,
            resources=self.ray_resources,
            runtime_env=self.runtime_env,
            connection_runtime_env=results.settings.runtime_env,
        )
        if self.checkpoint:
            # A checkpointed result that Ray loses (its node died) comes back from the
            # checkpoint. Without this, Ray would rebuild it by re-running the callable behind
            # Airflow's back, and wait for ever if no live node offers the task's resources.
            options["max_retries"] = 0
        if upstream:
            self.log.info(
                "Upstream results from Ray: %s",
                ", ".join(f"{u.label} ({u.result_type}, {u.size:,} bytes)" for u in upstream),
            )
        return payload, options, upstream

    def _report_outcome(self, report: Any, ref: RayResultRef, label: str) -> RayResultRef:
        """Log how the try ended; raise the callable's exception if it failed."""
        self._log_remote_output(report)
        if not report.ok:
            self.log.error("%s failed on Ray. %s", label, RemoteTraceback(report.traceback))
            raise remote_exception(report)
        self.log.info(
            "Ray task finished in %.1fs on %s (pid %s): %s, %s bytes, kept in Ray as %s",
            report.seconds,
            report.node,
            report.pid,
            report.result_type,
            f"{report.result_size:,}",
            ref.key,
        )
        return ref

    def _write_checkpoint(self, results: RayResults, done: RayResultRef) -> dict[str, Any]:
        store = CheckpointStoreHook(self.checkpoint_conn_id, self.checkpoint_path)
        config = store.signed_config(f"checkpoint=True on {done.dag_id}.{done.task_id}")
        prefix = store.location(
            done.dag_id, done.run_id, done.task_id, done.map_index, done.generation
        )
        self.log.info("Writing the checkpoint to %s", config.uri(prefix))
        manifest = results.write_checkpoint(done, config, prefix)
        self.log.info(
            "Checkpoint written to %s (%s in %d part(s), %.1fs)",
            manifest["uri"],
            human_size(manifest["size"]),
            len(manifest["parts"]),
            manifest["seconds"],
        )
        return manifest

    def _log_output_line(self, stream: str, line: str) -> None:
        self.log.info("[ray %s] %s", stream, line)

    def _link_publisher(self, ti: Any, results: RayResults) -> Callable[[str], None]:
        """``LiveLog.on_ray_task`` for the deferrable path: publish the link of a Ray task id."""
        return results.dashboard_announcer(lambda path: self._publish_link(ti, results, path))

    def _publish_link(self, ti: Any, results: RayResults, path: str) -> None:
        if not results.settings.dashboard_base:
            self.log.info(
                "No Ray dashboard link: the address %r names no host; set the connection's "
                "dashboard_url extra to get one.",
                results.settings.address,
            )
            return
        url = dashboard_url(results.settings.dashboard_base, path)
        self.log.info("Ray dashboard of this task: %s", url)
        try:
            RayDashboardLink().persist(ti, url)
        except Exception as exc:  # a link is a convenience: never fail the task for it
            self.log.warning("Could not publish the Ray dashboard link: %s", exc)

    def _log_remote_output(self, report: Any) -> None:
        """The output that did not arrive live (live output off or broken)."""
        if report.live_output:
            return
        if report.live_output_error:
            self.log.warning(
                "Live output from Ray stopped (%s); the whole captured output follows.",
                report.live_output_error,
            )
        for stream, text in (("stdout", report.stdout), ("stderr", report.stderr)):
            for line in text.splitlines():
                self._log_output_line(stream, line)

    def on_kill(self) -> None:
        if self._results is not None and self._slot is not None:
            self._results.cancel(self._slot)


def _new_slot(results: RayResults, ti: Any) -> RayResultRef:
    """A new try's identity for this task instance (its map index, -1 when not mapped)."""
    return results.new_result(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1))


def ray_task_name(ti: Any) -> str:
    """The Ray task's name, as a person looks for it in the dashboard: DAG, task, index, run."""
    map_index = getattr(ti, "map_index", -1)
    index = f"[{map_index}]" if map_index is not None and map_index >= 0 else ""
    return f"{ti.dag_id}.{ti.task_id}{index} ({ti.run_id})"


def ray_task(
    python_callable: Callable | None = None,
    multiple_outputs: bool | None = None,
    **kwargs: Any,
) -> Any:
    """The ``@task.ray`` decorator (registered through the provider's ``task-decorators``).

    ``checkpoint_source`` is accepted as the original name of ``checkpoint_conn_id``.
    """
    if "checkpoint_source" in kwargs:
        source = kwargs.pop("checkpoint_source")
        if kwargs.setdefault("checkpoint_conn_id", source) != source:
            raise RayArgumentError(
                "Give either checkpoint_conn_id or checkpoint_source (its old name), not both."
            )
    refuse_multiple_outputs(multiple_outputs, "@task.ray")
    return task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=False,
        decorated_operator_class=RayDecoratedOperator,
        **kwargs,
    )


def task(
    python_callable: Callable | None = None,
    multiple_outputs: bool | None = None,
    config: dict[str, Any] | Callable[..., dict[str, Any]] | None = None,
    **kwargs: Any,
) -> Any:
    """astro-provider-ray's spelling: ``from ray_provider.decorators import ray``, then
    ``@ray.task(config={...})`` (this module is that ``ray``). See ``ray_provider.compat.astro``.
    """
    from ray_provider.compat.astro import astro_task

    return astro_task(python_callable, multiple_outputs, config, **kwargs)


__all__ = ["RayDecoratedOperator", "ray_task", "task"]
