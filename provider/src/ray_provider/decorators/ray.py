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

import ray
from airflow.sdk import conf
from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory
from airflow.sdk.definitions.context import KNOWN_CONTEXT_KEYS, context_merge
from ray import cloudpickle

from ray_provider.client.deployment import current as current_deployment
from ray_provider.client.reference import RayResultRef
from ray_provider.decorators.options import loggable_options, ray_options
from ray_provider.decorators.payload import (
    build_payload,
    check_requested_context,
    extract_upstream,
    select_context,
)
from ray_provider.exceptions import RayArgumentError, RayRemoteTaskError, RayResultSupersededError
from ray_provider.hooks.checkpoint_store import CheckpointStoreHook, split_s3_uri
from ray_provider.hooks.ray import RayHook, Watch, human_size
from ray_provider.runtime import capacity
from ray_provider.runtime.keys import new_generation, result_key, run_key
from ray_provider.xcom import references_only

DEFAULT_CHECKPOINT_CONN_ID = "aws_default"
# How often a waiting task logs that the Ray task is still running.
PROGRESS_LOG_SECONDS = 30.0


class RemoteTraceback(Exception):
    """Carries the traceback printed on the Ray worker (shown as the cause of the failure)."""

    def __str__(self) -> str:
        return "\n\nRemote traceback (on the Ray worker):\n" + str(self.args[0])


class RayDecoratedOperator(DecoratedOperator):
    """Runs ``python_callable`` as a Ray task through the connection's result registry.

    :param ray_conn_id: the Ray connection (``ray_default``: local Ray when not defined).
    :param num_cpus: CPUs the Ray task reserves (default 1).
    :param num_gpus: GPUs the Ray task reserves.
    :param memory: memory the Ray task reserves, bytes or a size string (``"4GiB"``).
    :param resources: custom Ray resources, e.g. ``{"accelerator_type:A100": 1}``.
    :param runtime_env: Ray runtime environment, merged over the connection's.
    :param checkpoint: also write the result to the checkpoint store, and restore it from
        there when a consumer finds it gone from Ray.
    :param checkpoint_conn_id: the ``aws`` connection of the store (default ``aws_default``).
    :param checkpoint_path: ``s3://bucket/prefix`` overriding the connection's bucket/prefix.
    """

    custom_operator_name = "@task.ray"
    template_fields: Sequence[str] = ("op_args", "op_kwargs", "runtime_env")
    template_fields_renderers = {"op_args": "py", "op_kwargs": "py", "runtime_env": "json"}

    def __init__(
        self,
        *,
        python_callable: Callable,
        op_args: Sequence[Any] | None = None,
        op_kwargs: dict[str, Any] | None = None,
        ray_conn_id: str = RayHook.default_conn_name,
        num_cpus: float | None = 1,
        num_gpus: float | None = None,
        memory: int | str | None = None,
        resources: dict[str, float] | None = None,
        runtime_env: dict[str, Any] | None = None,
        checkpoint: bool = False,
        checkpoint_conn_id: str | None = None,
        checkpoint_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("multiple_outputs"):
            raise RayArgumentError(
                "@task.ray does not support multiple_outputs=True: the result stays in Ray as "
                "one object. Return a dict and index it in the consumer instead."
            )
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
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.memory = memory
        # Not `self.resources`: BaseOperator converts that attribute to Airflow Resources.
        self.ray_resources = resources
        self.runtime_env = runtime_env
        self.checkpoint = checkpoint
        self.checkpoint_conn_id = checkpoint_conn_id or DEFAULT_CHECKPOINT_CONN_ID
        self.checkpoint_path = checkpoint_path
        if checkpoint_path:
            split_s3_uri(checkpoint_path, "checkpoint_path")
        self._result_key: str | None = None
        self._generation: str = ""
        self._hook: RayHook | None = None
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
        self._refuse_mapping_over_reference()
        deployment = current_deployment()
        if self.checkpoint:
            deployment.require_key(f"checkpoint=True on {label}")
        hook = self._hook = RayHook(self.ray_conn_id)
        settings = hook.get_conn()
        map_index = getattr(ti, "map_index", -1)
        map_index = -1 if map_index is None else map_index
        key = self._result_key = result_key(
            deployment.id, ti.dag_id, ti.run_id, ti.task_id, map_index
        )
        generation = self._generation = new_generation()

        previous = hook.result_state(key) if self.checkpoint else None
        if (
            previous
            and previous["awaiting_checkpoint"]
            and hook.adopt(key, previous["generation"], generation)
        ):
            # An earlier try computed the value and only its checkpoint failed: keep the value.
            self.log.info(
                "Reusing the result computed by an earlier try (%s, %s bytes), kept in Ray; "
                "only its checkpoint is written now.",
                previous["result_type"],
                f"{previous['size']:,}",
            )
            result_type, size = previous["result_type"], previous["size"]
        else:
            result_type, size = self._compute(context, hook, settings, deployment, label)

        manifest = None
        if self.checkpoint:
            manifest = self._write_checkpoint(hook, ti, map_index)
        ref = RayResultRef(
            deployment=deployment.id,
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=map_index,
            generation=generation,
            namespace=settings.namespace,
            ray_conn_id=self.ray_conn_id,
            result_type=result_type,
            size=size,
            checkpoint_uri=manifest["uri"] if manifest else None,
            checkpoint_conn_id=self.checkpoint_conn_id if manifest else None,
            manifest_digest=manifest["digest"] if manifest else None,
        ).signed(deployment.key)
        return self._handle_output(ref.to_xcom())

    def _refuse_mapping_over_reference(self) -> None:
        """``.expand()`` over this task's result would map over the reference's fields."""
        dependants = [d.node_id for d in self.iter_mapped_dependants()]
        if dependants:
            raise RayArgumentError(
                f"{', '.join(dependants)} map(s) over the result of @task.ray task "
                f"{self.task_id!r} with .expand(); that result stays in Ray and XCom holds only "
                "a reference, so Airflow would map over the reference's fields instead of the "
                "items. Until mapping over Ray results is supported, return the items from a "
                "plain @task (or map over a list of indices and index the Ray result inside "
                "the mapped @task.ray task)."
            )

    def _checked_upstream(
        self, upstream: list[RayResultRef], ti: Any, settings: Any, deployment: Any, label: str
    ) -> None:
        """Refuse upstream references this deployment did not make for this run (see check)."""
        for ref in upstream:
            ref.check_in_run(deployment, ti.dag_id, ti.run_id)
            if ref.namespace != settings.namespace:
                raise RayArgumentError(
                    f"{label}: upstream task {ref.label!r} kept its result in Ray namespace "
                    f"{ref.namespace!r}, this task uses {settings.namespace!r} (connection "
                    f"{self.ray_conn_id!r}). Use the same Ray connection for both tasks."
                )

    def _compute(
        self, context: Any, hook: RayHook, settings: Any, deployment: Any, label: str
    ) -> tuple[str, int]:
        """Run the callable on Ray; returns the result's (type, size)."""
        ti = context["ti"]
        key, generation = self._result_key, self._generation
        context_merge(context, self.op_kwargs)
        kwargs = select_context(
            dict(self.determine_kwargs(context)), set(self.op_kwargs), KNOWN_CONTEXT_KEYS
        )
        args, kwargs, upstream = extract_upstream(self.op_args, kwargs)
        self._checked_upstream(upstream, ti, settings, deployment, label)
        payload = build_payload(
            self.python_callable,
            args,
            kwargs,
            dags_folder=conf.get("core", "dags_folder", fallback=None),
            task_label=label,
        )
        options = ray_options(
            name=label,
            num_cpus=self.num_cpus,
            num_gpus=self.num_gpus,
            memory=self.memory,
            resources=self.ray_resources,
            runtime_env=self.runtime_env,
            connection_runtime_env=settings.runtime_env,
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
            hook.ensure_available(upstream)
        hook.check_feasible(options, label)
        watch = Watch(key, generation, capacity.request_of(options), label, self.log.warning)

        def run() -> Any:
            report_ref = hook.submit(
                key=key,
                run_key=run_key(deployment.id, ti.dag_id, ti.run_id),
                generation=generation,
                payload=payload,
                upstream=upstream,
                options=options,
            )
            self.log.info(
                "Submitted %s to Ray at %s with %s",
                label,
                settings.address,
                loggable_options(options),
            )
            return hook.wait(
                report_ref,
                poll_seconds=PROGRESS_LOG_SECONDS,
                on_progress=lambda s: self.log.info("%s still running on Ray (%.0fs)", label, s),
                watch=watch,
            )

        try:
            report = run()
        except ray.exceptions.ObjectLostError:
            if not upstream:
                raise
            # An upstream object was lost although the registry kept its key (node lost).
            hook.discard(key, generation)
            hook.recover_lost(upstream)
            report = run()
        self._log_remote_output(report)
        if not report.ok:
            hook.discard(key, generation)
            self.log.error("%s failed on Ray. %s", label, RemoteTraceback(report.traceback))
            raise self._remote_exception(report)
        if not hook.describe(
            key, generation, report.result_type, report.result_size, self.checkpoint
        ):
            raise RayResultSupersededError(
                f"{label}: another try of this task replaced this try's result in Ray while it "
                "ran (this try was superseded); its result is not used."
            )
        self.log.info(
            "Ray task finished in %.1fs on %s (pid %s): %s, %s bytes, kept in Ray as %s",
            report.seconds,
            report.node,
            report.pid,
            report.result_type,
            f"{report.result_size:,}",
            key,
        )
        return report.result_type, report.result_size

    def _write_checkpoint(self, hook: RayHook, ti: Any, map_index: int) -> dict[str, Any]:
        store = CheckpointStoreHook(self.checkpoint_conn_id, self.checkpoint_path)
        config = store.signed_config(f"checkpoint=True on {ti.dag_id}.{ti.task_id}")
        prefix = store.location(ti.dag_id, ti.run_id, ti.task_id, map_index, self._generation)
        self.log.info("Writing the checkpoint to %s", config.uri(prefix))
        manifest = hook.write_checkpoint(self._result_key, self._generation, config, prefix)
        self.log.info(
            "Checkpoint written to %s (%s in %d part(s), %.1fs)",
            manifest["uri"],
            human_size(manifest["size"]),
            len(manifest["parts"]),
            manifest["seconds"],
        )
        return manifest

    def _log_remote_output(self, report: Any) -> None:
        for stream, text in (("stdout", report.stdout), ("stderr", report.stderr)):
            for line in text.splitlines():
                self.log.info("[ray %s] %s", stream, line)

    def _remote_exception(self, report: Any) -> BaseException:
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

    def on_kill(self) -> None:
        if self._hook is not None and self._result_key is not None:
            self._hook.cancel(self._result_key, self._generation)


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
    if multiple_outputs:
        raise RayArgumentError(
            "@task.ray does not support multiple_outputs=True: the result stays in Ray as one "
            "object. Return a dict and index it in the consumer instead."
        )
    return task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=False,
        decorated_operator_class=RayDecoratedOperator,
        **kwargs,
    )


__all__ = ["RayDecoratedOperator", "ray_task"]
