"""astro-provider-ray's spellings, so its users' DAGs run here unchanged.

That provider (import name ``ray_provider`` too) was deprecated in 2026-07. Its DAGs use
``from ray_provider.decorators import ray`` with ``@ray.task(config={...})`` (or a callable that
returns the config), and ``SubmitRayJob`` / ``SetupRayCluster`` / ``DeleteRayCluster`` from
``ray_provider.operators``. Here ``@ray.task`` is ``@task.ray`` with the config's keys turned
into its arguments, and, where astro-provider-ray had a known bug, the right thing happens:

- the function's return value comes back (its issue #127: values never returned), through the
  Ray object store like every ``@task.ray`` result;
- the function travels pickled, not as source text cut out of the DAG file, so helpers,
  closures and other decorators work;
- ``ray.init()`` at the top of the function (it ran as a job's driver there) is harmless.

Keys that only make sense for a job or a cluster are refused with the replacement named, not
silently ignored. The mapping is one table (``CONFIG_KEYS``) that the README's migration section
describes.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from airflow.sdk.bases.decorator import task_decorator_factory

from ray_provider.decorators.options import ray_options, refuse_multiple_outputs
from ray_provider.decorators.ray import RayDecoratedOperator
from ray_provider.exceptions import RayArgumentError
from ray_provider.runtime.driver_style import tolerate_ray_init

log = logging.getLogger(__name__)

# astro-provider-ray's config key -> the @task.ray argument it becomes.
CONFIG_KEYS: dict[str, str] = {
    "conn_id": "ray_conn_id",
    "runtime_env": "runtime_env",
    "num_cpus": "num_cpus",
    "num_gpus": "num_gpus",
    "memory": "memory",
    "resources": "resources",
    # "SETUP_TASK.dashboard": run on the cluster of that SetupRayCluster (its signed handle).
    "xcom_task_key": "xcom_task_key",
}
# Keys about how the job was waited for: the function's Ray task is waited for and its output
# shown live whatever they say, so they are accepted and have nothing to change.
WAIT_KEYS = frozenset({"fetch_logs", "wait_for_completion", "poll_interval"})
# Keys of a job or of a per-run cluster, refused with what to use instead.
REFUSED_KEYS: dict[str, str] = {
    "entrypoint": "a command runs as a Ray job with RaySubmitJobOperator(entrypoint=...) (or "
    "ray_provider.operators.SubmitRayJob); @ray.task runs the decorated function itself",
    "ray_cluster_yaml": "a per-run cluster is made by a task of its own: put a "
    "SetupRayCluster(ray_cluster_yaml=...) upstream (and a DeleteRayCluster after), and give "
    "this task config['xcom_task_key']='SETUP_TASK.dashboard'",
    "update_if_exists": "it belongs to ray_cluster_yaml (SetupRayCluster upstream instead)",
    "kuberay_version": "it belongs to ray_cluster_yaml (SetupRayCluster upstream instead; "
    "KubeRay is installed once by the platform's charts)",
    "gpu_device_plugin_yaml": "it belongs to ray_cluster_yaml (SetupRayCluster upstream "
    "instead); the GPU node pool brings its device plugin",
}
TIMEOUT_KEY = "job_timeout_seconds"


def translate_config(config: dict[str, Any], label: str) -> dict[str, Any]:
    """``@task.ray`` arguments from an astro-provider-ray ``config`` dict."""
    if not isinstance(config, dict):
        raise RayArgumentError(
            f"{label}: config={config!r}: expected a dict, or a callable that returns one."
        )
    arguments: dict[str, Any] = {}
    for key, value in config.items():
        if key in CONFIG_KEYS:
            arguments[CONFIG_KEYS[key]] = value
        elif key in REFUSED_KEYS:
            raise RayArgumentError(
                f"{label}: config[{key!r}] is not supported here: {REFUSED_KEYS[key]}."
            )
        elif key not in WAIT_KEYS and key != TIMEOUT_KEY:
            known = sorted([*CONFIG_KEYS, *WAIT_KEYS, TIMEOUT_KEY])
            raise RayArgumentError(
                f"{label}: config[{key!r}] is not a key of astro-provider-ray's @ray.task; "
                f"known keys: {', '.join(known)}."
            )
    # Its defaults meant "none": memory=1 byte / 0 and num_gpus=0.
    if arguments.get("memory") in (0, 1):
        arguments["memory"] = None
    if arguments.get("num_gpus") == 0:
        arguments["num_gpus"] = None
    if arguments.get("ray_conn_id") == "":
        arguments.pop("ray_conn_id")
    return arguments


def config_timeout(config: dict[str, Any]) -> timedelta | None:
    """``job_timeout_seconds`` as an execution timeout (0 or absent: none)."""
    seconds = config.get(TIMEOUT_KEY)
    if seconds in (None, 0):
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise RayArgumentError(
            f"config[{TIMEOUT_KEY!r}]={seconds!r}: expected a number of seconds >= 0."
        )
    return timedelta(seconds=seconds)


class AstroRayTaskOperator(RayDecoratedOperator):
    """``@ray.task(config=...)``: ``@task.ray`` configured by astro-provider-ray's config.

    :param config: the config dict, or a callable returning it at run time; the callable is
        given ``context`` and the task's own arguments it names.
    """

    custom_operator_name = "@ray.task"

    def __init__(
        self, *, config: dict[str, Any] | Callable[..., dict[str, Any]] | None = None, **kwargs: Any
    ) -> None:
        label = f"Task {kwargs.get('task_id')!r}"
        config = {} if config is None else config
        self._config_factory = config if callable(config) else None
        self._init_kwargs = dict(kwargs)
        if not callable(config):
            kwargs = {**translate_config(config, label), **kwargs}
            timeout = config_timeout(config)
            if timeout is not None:
                kwargs.setdefault("execution_timeout", timeout)
        xcom_task_key = kwargs.pop("xcom_task_key", None)
        super().__init__(**kwargs)
        self.xcom_task_key = xcom_task_key

    def execute(self, context: Any) -> Any:
        if self._config_factory is not None:
            self._apply(self._build_config(context))
        return super().execute(context)

    def resume_execution(
        self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any
    ) -> Any:
        # A deferred try resumes in a new process: its config (the connection above all) is
        # built again, or the result would be looked for on the DAG file's connection.
        if self._config_factory is not None:
            self._apply(self._build_config(context))
        return super().resume_execution(next_method, next_kwargs, context)

    def remote_callable(self) -> Callable:
        return tolerate_ray_init(self.python_callable)

    def _hook(self, ti: Any) -> Any:
        # config["xcom_task_key"]: the cluster of that SetupRayCluster, not the connection's.
        if self.xcom_task_key and self.ray_cluster is None:
            from ray_provider.compat.astro_cluster import cluster_from_xcom_key

            self.ray_cluster = cluster_from_xcom_key(self.xcom_task_key, ti, self.task_id)
        return super()._hook(ti)

    def _build_config(self, context: Any) -> dict[str, Any]:
        factory = self._config_factory
        assert factory is not None
        wanted = inspect.signature(factory).parameters
        arguments: dict[str, Any] = {}
        for name, parameter in wanted.items():
            if name == "context":
                arguments[name] = context
            elif name in self._init_kwargs:
                arguments[name] = self._init_kwargs[name]
            elif parameter.kind is parameter.VAR_KEYWORD:
                continue
        config = factory(**arguments)
        if not isinstance(config, dict):
            raise RayArgumentError(
                f"Task {self.task_id!r}: its config callable returned {type(config).__name__}, "
                "not a dict."
            )
        return config

    def _apply(self, config: dict[str, Any]) -> None:
        """A config built at run time: the same translation, onto this task's arguments."""
        arguments = translate_config(config, f"Task {self.task_id!r}")
        if config_timeout(config) is not None:
            self.log.warning(
                "config[%r] from a callable cannot change this try's timeout any more; set "
                "execution_timeout on the task instead",
                TIMEOUT_KEY,
            )
        ray_options(
            name="validation",
            num_cpus=arguments.get("num_cpus"),
            num_gpus=arguments.get("num_gpus"),
            memory=arguments.get("memory"),
            resources=arguments.get("resources"),
            runtime_env=arguments.get("runtime_env"),
            connection_runtime_env={},
        )
        self.ray_conn_id = arguments.get("ray_conn_id", self.ray_conn_id)
        self.num_cpus = arguments.get("num_cpus", self.num_cpus)
        self.num_gpus = arguments.get("num_gpus", self.num_gpus)
        self.memory = arguments.get("memory", self.memory)
        self.ray_resources = arguments.get("resources", self.ray_resources)
        self.runtime_env = arguments.get("runtime_env", self.runtime_env)
        self.xcom_task_key = arguments.get("xcom_task_key", self.xcom_task_key)


def astro_task(
    python_callable: Callable | None = None,
    multiple_outputs: bool | None = None,
    config: dict[str, Any] | Callable[..., dict[str, Any]] | None = None,
    **kwargs: Any,
) -> Any:
    """``@ray.task(config=...)`` of astro-provider-ray (see the module docstring)."""
    refuse_multiple_outputs(multiple_outputs, "@ray.task")
    return task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=False,
        decorated_operator_class=AstroRayTaskOperator,
        config=config,
        **kwargs,
    )
