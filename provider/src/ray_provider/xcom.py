"""XCom backend that hands plain tasks the real value behind a ``@task.ray`` reference.

``@task.ray`` stores only a small JSON reference in XCom. With this backend configured
(``AIRFLOW__CORE__XCOM_BACKEND=ray_provider.xcom.RayXComBackend``), any task that pulls that
XCom (a plain ``@task``, a classic operator, ``ti.xcom_pull``) receives the value itself, fetched
from Ray. A ``@task.ray`` consumer asks for the reference instead, so the value goes from Ray
to Ray and never through the Airflow worker. Every other XCom behaves as the default backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from airflow.sdk.bases.xcom import BaseXCom

from ray_provider.reference import RayResultRef

_materialize_results: ContextVar[bool] = ContextVar("ray_provider_materialize", default=True)


@contextlib.contextmanager
def references_only() -> Iterator[None]:
    """Within this block, pulled ``@task.ray`` results stay references (used by ``@task.ray``)."""
    token = _materialize_results.set(False)
    try:
        yield
    finally:
        _materialize_results.reset(token)


def resolve(value: Any) -> Any:
    """Replace a reference by its value, fetched from Ray; anything else is returned as is."""
    ref = value if isinstance(value, RayResultRef) else RayResultRef.from_xcom(value)
    if ref is None:
        return value
    if not _materialize_results.get():
        return ref
    from ray_provider.hooks.ray import RayHook

    return RayHook(ref.ray_conn_id).materialize(ref)


class RayXComBackend(BaseXCom):
    """The default XCom backend, plus materialization of ``@task.ray`` references."""

    @staticmethod
    def deserialize_value(result: Any) -> Any:
        return resolve(BaseXCom.deserialize_value(result))
