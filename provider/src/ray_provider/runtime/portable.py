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
from ray_provider.runtime.walk import KEEP, walk


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


# Containers longer than this are passed through as they are: walking a million-element list
# costs more than it could gain, and the nested-ref check below still guards them.
_MAX_WALKED_ITEMS = 1000


def make_portable(value: Any) -> Any:
    """Return ``value`` with every worker-owned nested object replaced by plain data."""
    modin_types = _modin_types()

    def convert(node: Any) -> Any:
        if modin_types and isinstance(node, modin_types):
            return PortableModin(frame=node._to_pandas(), kind=type(node).__name__)
        if isinstance(node, ray.ObjectRef):
            return walk(ray.get(node), convert, max_items=_MAX_WALKED_ITEMS)
        return KEEP

    portable = walk(value, convert, max_items=_MAX_WALKED_ITEMS)
    _refuse_remaining_refs(portable)
    return portable


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
    return walk(value, _restore_modin, max_items=_MAX_WALKED_ITEMS)


def _restore_modin(node: Any) -> Any:
    if not isinstance(node, PortableModin):
        return KEEP
    import modin.pandas as modin_pd

    return getattr(modin_pd, node.kind)(node.frame)
