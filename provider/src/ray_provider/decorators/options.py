"""Validate ``@task.ray`` resource arguments into Ray task options, naming the bad field."""

from __future__ import annotations

import math
import re
from typing import Any

from ray_provider.exceptions import RayArgumentError

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "ki": 1024,
    "kib": 1024,
    "mi": 1024**2,
    "mib": 1024**2,
    "gi": 1024**3,
    "gib": 1024**3,
}


def parse_memory(value: int | float | str | None) -> int | None:
    """Bytes from ``2_000_000_000``, ``"2GB"`` or ``"1.5GiB"``."""
    if value is None:
        return None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and math.isfinite(value) and value > 0:
        return int(value)
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(value))
    if match and match.group(2).lower() in _UNITS and float(match.group(1)) > 0:
        return int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    raise RayArgumentError(
        f"memory={value!r}: expected a positive number of bytes or a size such as '2GiB' or "
        "'500MB'."
    )


def _non_negative(name: str, value: Any) -> float | None:
    if value is None:
        return None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value < 0:
        raise RayArgumentError(f"{name}={value!r}: expected a finite number >= 0 (e.g. {name}=1).")
    return value


def ray_options(
    *,
    name: str,
    num_cpus: float | None,
    num_gpus: float | None,
    memory: int | float | str | None,
    resources: dict[str, float] | None,
    runtime_env: dict[str, Any] | None,
    connection_runtime_env: dict[str, Any],
) -> dict[str, Any]:
    """Options for ``remote_function.options(...)``; the task's runtime_env wins per key."""
    options: dict[str, Any] = {"name": name}
    cpus = _non_negative("num_cpus", num_cpus)
    gpus = _non_negative("num_gpus", num_gpus)
    if cpus is not None:
        options["num_cpus"] = cpus
    if gpus:
        options["num_gpus"] = gpus
    memory_bytes = parse_memory(memory)
    if memory_bytes:
        options["memory"] = memory_bytes
    if resources is not None:
        if not isinstance(resources, dict) or not all(
            isinstance(k, str) and _non_negative(f"resources[{k!r}]", v) is not None
            for k, v in resources.items()
        ):
            raise RayArgumentError(
                f"resources={resources!r}: expected a dict of custom resource name to amount, "
                "e.g. {'accelerator_type:A100': 1}."
            )
        options["resources"] = dict(resources)
    merged_env = merge_runtime_env(connection_runtime_env, runtime_env)
    if merged_env:
        options["runtime_env"] = merged_env
    return options


def merge_runtime_env(
    connection_env: dict[str, Any], task_env: dict[str, Any] | None
) -> dict[str, Any]:
    """The connection's runtime_env with the task's over it, key by key (the task's wins)."""
    if task_env is not None and not isinstance(task_env, dict):
        raise RayArgumentError(
            f"runtime_env={task_env!r}: expected a dict such as {{'pip': ['xgboost==2.0.3']}}."
        )
    return {**connection_env, **(task_env or {})}


def loggable_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options as a task log may show them: ``runtime_env.env_vars`` keys, never values.

    Environment variables are how secrets reach a Ray task; a log is read by more people.
    """
    runtime_env = options.get("runtime_env")
    if not isinstance(runtime_env, dict) or not isinstance(runtime_env.get("env_vars"), dict):
        return options
    hidden = {name: "***" for name in runtime_env["env_vars"]}
    return {**options, "runtime_env": {**runtime_env, "env_vars": hidden}}


def refuse_multiple_outputs(multiple_outputs: bool | None, decorator: str) -> None:
    """A Ray result stays one object in Ray: Airflow's multiple_outputs cannot split it."""
    if multiple_outputs:
        raise RayArgumentError(
            f"{decorator} does not support multiple_outputs=True: the result stays in Ray as "
            "one object. Return a dict and index it in the consumer instead."
        )
