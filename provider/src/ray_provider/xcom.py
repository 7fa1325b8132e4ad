"""XCom backend that hands plain tasks the real value behind a ``@task.ray`` reference.

``@task.ray`` stores only a small JSON reference in XCom. With this backend configured
(``AIRFLOW__CORE__XCOM_BACKEND=ray_provider.xcom.RayXComBackend``), any task that pulls that
XCom (a plain ``@task``, a classic operator, ``ti.xcom_pull``) receives the value itself, fetched
from Ray. A ``@task.ray`` consumer gets the reference instead, so the value goes from Ray to Ray
and never through the Airflow worker: inside ``references_only()`` (its own rendering), and
whenever the reading task is a ``@task.ray`` task, mapped or not (Airflow resolves a mapped
task's ``.expand()`` arguments before the operator exists). A result that tasks map over is a
list (or dict) of references to its items; a plain task reading it gets the whole value,
fetched once. Every other XCom behaves as the default backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import replace
from typing import Any

from airflow.sdk.bases.xcom import BaseXCom

from ray_provider.client.reference import RayResultRef
from ray_provider.config_options import (
    DEFAULT_MATERIALIZE_LIMIT,
    SECTION,
    XCOM_MATERIALIZE_MAX_BYTES,
)
from ray_provider.exceptions import RayArgumentError

_materialize_results: ContextVar[bool] = ContextVar("ray_provider_materialize", default=True)


@contextlib.contextmanager
def references_only() -> Iterator[None]:
    """Within this block, pulled ``@task.ray`` results stay references (used by ``@task.ray``)."""
    token = _materialize_results.set(False)
    try:
        yield
    finally:
        _materialize_results.reset(token)


def _reading_task_runs_on_ray() -> bool:
    """Whether the task this process runs is a ``@task.ray`` task (mapped or not)."""
    ti = _current_ti()
    if ti is None:
        return False
    task = ti.task
    operator_class = getattr(task, "operator_class", None) or type(task)
    return getattr(operator_class, "custom_operator_name", None) == "@task.ray"


def _item_refs(value: Any) -> list[RayResultRef] | None:
    """The references of a mapped-over result's XCom (a list or dict of item refs), or None."""
    items = value.values() if isinstance(value, dict) else value
    if not isinstance(value, list | dict) or not items:
        return None
    refs = [RayResultRef.from_xcom(item) for item in items]
    if any(ref is None or ref.item is None for ref in refs):
        return None
    return refs  # type: ignore[return-value]


def _reading_run() -> tuple[str | None, str | None]:
    """(dag_id, run_id) of the task this process runs, or (None, None) outside a task."""
    ti = _current_ti()
    return (None, None) if ti is None else (ti.dag_id, ti.run_id)


def _current_ti() -> Any:
    """The task instance this process runs, or None outside a task."""
    try:
        from airflow.sdk import get_current_context

        return get_current_context()["ti"]
    except Exception:
        return None


def materialize_limit() -> int:
    """``[ray_provider] xcom_materialize_max_bytes``: the most a plain task may pull (0: any)."""
    from airflow.sdk import conf

    raw = conf.get(SECTION, XCOM_MATERIALIZE_MAX_BYTES, fallback=None)
    try:
        return int(raw) if raw not in (None, "") else DEFAULT_MATERIALIZE_LIMIT
    except ValueError as exc:
        raise RayArgumentError(
            f"[ray_provider] xcom_materialize_max_bytes={raw!r}: expected a whole number of "
            "bytes (0 for no limit)."
        ) from exc


def resolve(value: Any) -> Any:
    """Replace a reference by its value, fetched from Ray; anything else is returned as is.

    The reference is checked first (signature, deployment, the reading task's run), and a
    value over the materialize limit is refused rather than pulled into an Airflow worker.
    """
    if not _materialize_results.get() or _reading_task_runs_on_ray():
        ref = value if isinstance(value, RayResultRef) else RayResultRef.from_xcom(value)
        return value if ref is None else ref
    from ray_provider.client.deployment import current

    ref = value if isinstance(value, RayResultRef) else RayResultRef.from_xcom(value)
    if ref is None:
        items = _item_refs(value)
        if items is None:
            return value
        # One fetch of the whole result, which Airflow then indexes for a mapped plain task.
        for item in items:
            item.check_in_run(current(), *_reading_run())
        return _materialize(replace(items[0], item=None, signature=None))
    ref.check_in_run(current(), *_reading_run())
    whole = _materialize(ref)
    return whole if ref.item is None else whole[ref.item]


def _materialize(ref: RayResultRef) -> Any:
    """The whole result behind a checked reference, refused over the size limit."""
    from ray_provider.client.units import human_size
    from ray_provider.hooks.ray import RayHook

    limit = materialize_limit()
    if limit and ref.size > limit:
        raise RayArgumentError(
            f"The result of {ref.label!r} is {human_size(ref.size)}, over the "
            f"{human_size(limit)} that a plain Airflow task may pull from Ray "
            "([ray_provider] xcom_materialize_max_bytes). Consume it in a @task.ray task "
            "instead (it reads the value in Ray, without a copy through Airflow; mapped over "
            "it, each reads only its item), or raise the limit."
        )
    cluster = (ref.ray_address, "") if ref.ray_address else None
    return RayHook(ref.ray_conn_id, cluster=cluster).results().materialize(replace(ref, item=None))


class RayXComBackend(BaseXCom):
    """The default XCom backend, plus materialization of ``@task.ray`` references."""

    @staticmethod
    def deserialize_value(result: Any) -> Any:
        return resolve(BaseXCom.deserialize_value(result))
