"""Turn task results into values that no longer depend on the worker that made them.

A Ray task's return value is owned by whoever submitted the task (here: the registry actor).
Object references *nested inside* the value, however, stay owned by the worker process that
created them; when that worker exits, the nested data is gone. A modin DataFrame is exactly
that (its partitions are refs owned by the worker, and modin pickles it "light"), so results
are made portable before they are returned: modin frames are materialized to pandas with a
marker that restores the modin type on the consumer side, bare ObjectRefs inside containers are
resolved, and anything else that still holds refs is refused with an explanation.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import ray

from ray_provider.runtime.errors import NestedObjectRefError, UnserializableResultError


@dataclass(frozen=True)
class PortableModin:
    """A modin DataFrame/Series carried as pandas; restored to modin for the consumer."""

    frame: Any
    kind: str  # "DataFrame" or "Series"


def _modin_types() -> tuple[type, ...]:
    # Only look at modin if the producing code imported it: importing modin is slow.
    modin_pd = sys.modules.get("modin.pandas")
    if modin_pd is None:
        return ()
    return (modin_pd.DataFrame, modin_pd.Series)


def make_portable(value: Any) -> Any:
    """Return ``value`` with every worker-owned nested object replaced by plain data."""
    modin_types = _modin_types()
    portable = _convert(value, modin_types)
    _refuse_remaining_refs(portable)
    return portable


# Containers longer than this are passed through as they are: walking a million-element list
# costs more than it could gain, and the nested-ref check below still guards them.
_MAX_WALKED_ITEMS = 1000


def _walkable(value: Any) -> bool:
    return len(value) <= _MAX_WALKED_ITEMS


def _convert(value: Any, modin_types: tuple[type, ...]) -> Any:
    if isinstance(value, (tuple, list, dict)) and not _walkable(value):
        return value
    if modin_types and isinstance(value, modin_types):
        return PortableModin(frame=value._to_pandas(), kind=type(value).__name__)
    if isinstance(value, ray.ObjectRef):
        return _convert(ray.get(value), modin_types)
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_convert(item, modin_types) for item in value)
    if isinstance(value, list):
        return [_convert(item, modin_types) for item in value]
    if isinstance(value, dict):
        return {key: _convert(item, modin_types) for key, item in value.items()}
    return value


def _refuse_remaining_refs(value: Any) -> None:
    """Serialize once (zero-copy for arrays) to find unpicklable parts and leftover refs."""
    context = ray._private.worker.global_worker.get_serialization_context()
    try:
        serialized = context.serialize(value)
    except Exception as exc:
        raise UnserializableResultError(
            f"The task returned a {type(value).__module__}.{type(value).__qualname__}, which "
            f"cannot be serialized ({type(exc).__name__}: {exc}). Return plain data instead "
            "(numbers, strings, arrays, data frames, models), not open files, locks, sockets "
            "or clients."
        ) from exc
    nested = getattr(serialized, "contained_object_refs", None) or []
    if nested:
        raise NestedObjectRefError(
            f"The return value ({type(value).__module__}.{type(value).__qualname__}) holds "
            f"{len(nested)} Ray ObjectRef(s) owned by the worker that made it; they would be "
            "lost when that worker exits. Return the data itself (e.g. call ray.get on the refs, "
            "or ._to_pandas() on a distributed frame) instead of references to it."
        )


def restore(value: Any) -> Any:
    """Inverse of :func:`make_portable`: give the consumer the type the producer returned."""
    if isinstance(value, PortableModin):
        import modin.pandas as modin_pd

        return getattr(modin_pd, value.kind)(value.frame)
    if isinstance(value, (tuple, list, dict)) and not _walkable(value):
        return value
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(restore(item) for item in value)
    if isinstance(value, list):
        return [restore(item) for item in value]
    if isinstance(value, dict):
        return {key: restore(item) for key, item in value.items()}
    return value
