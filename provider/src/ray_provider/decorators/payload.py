"""Package a callable and its arguments for Ray: cloudpickle, never source text.

Upstream ``@task.ray`` results in the arguments are swapped for slots; the registry passes the
real objects to the Ray task as top-level arguments, so Ray resolves them in the object store.
Functions defined in DAG files (and helper modules next to them) are pickled by value, because
the Ray workers cannot import the DAG folder or the DAG bundle's checkout.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ray import cloudpickle

from ray_provider.client.reference import RayResultRef
from ray_provider.exceptions import RayArgumentError
from ray_provider.runtime.execute import RefSlot
from ray_provider.runtime.walk import KEEP, walk

# Context values a Ray callable may ask for by name: plain data that means the same remotely.
REMOTE_CONTEXT_KEYS = frozenset(
    {
        "ds",
        "ds_nodash",
        "ts",
        "ts_nodash",
        "ts_nodash_with_tz",
        "logical_date",
        "data_interval_start",
        "data_interval_end",
        "run_id",
        "params",
        "task_instance_key_str",
        "prev_data_interval_start_success",
        "prev_data_interval_end_success",
        "prev_start_date_success",
        "prev_end_date_success",
        "map_index_template",
        "expanded_ti_count",
    }
)


def extract_upstream(
    args: Any, kwargs: dict[str, Any], verify: Callable[[RayResultRef], None] | None = None
) -> tuple[Any, dict[str, Any], list]:
    """Replace every result reference in args/kwargs by a :class:`RefSlot`.

    The walk (``runtime.walk``) keeps each container's type, so a namedtuple or OrderedDict
    argument reaches the callable as one; ``run_callable`` fills the slots with the same walk.
    """
    upstream: list[RayResultRef] = []
    # One argument per result, however many of its items are passed (a list of item refs).
    index_of: dict[tuple[str, str], int] = {}

    def swap(value: Any) -> Any:
        if _is_lazy_xcom_sequence(value):
            # The output of a mapped task, read lazily from XCom: its items (references to
            # the mapped @task.ray results) go to Ray as a list, not the lazy reader itself.
            return walk(list(value), swap)
        # Before the walk looks inside: an XCom reference is itself a dict.
        ref = value if isinstance(value, RayResultRef) else RayResultRef.from_xcom(value)
        if ref is None:
            return KEEP
        if verify is not None:  # every reference, not only one per result (items differ)
            verify(ref)
        identity = (ref.key, ref.generation)
        if identity not in index_of:
            index_of[identity] = len(upstream)
            upstream.append(ref)
        return RefSlot(index_of[identity], ref.item)

    return walk(tuple(args), swap), walk(dict(kwargs), swap), upstream


def _is_lazy_xcom_sequence(value: Any) -> bool:
    """Airflow's lazy sequence of a mapped task's XComs (what ``.expand()`` output reads as)."""
    try:
        from airflow.sdk.execution_time.lazy_sequence import LazyXComSequence
    except ImportError:  # another Airflow layout: no such class to expand
        return False
    return isinstance(value, LazyXComSequence)


def select_context(
    kwargs: dict[str, Any], explicit: set[str], context_keys: set[str]
) -> dict[str, Any]:
    """Keep arguments and the context values that can go to Ray; drop the rest of the context.

    ``explicit`` are the callable's own arguments (op_kwargs), kept whatever their name.
    """
    selected: dict[str, Any] = {}
    for name, value in kwargs.items():
        if name not in context_keys or name in explicit:
            selected[name] = value
            continue
        if name in REMOTE_CONTEXT_KEYS:
            selected[name] = dict(value) if name == "params" else value
    return selected


def check_requested_context(parameters: list[str], context_keys: set[str], task_label: str) -> None:
    unsupported = [p for p in parameters if p in context_keys and p not in REMOTE_CONTEXT_KEYS]
    if unsupported:
        raise RayArgumentError(
            f"{task_label}: the callable asks for the Airflow context value(s) "
            f"{', '.join(map(repr, unsupported))}, which cannot be sent to a Ray worker. Ask for "
            f"plain values instead ({', '.join(sorted(REMOTE_CONTEXT_KEYS))}) or pass what you "
            "need as arguments."
        )


def _register_dag_modules_by_value(roots: Iterable[str | os.PathLike[str] | None]) -> None:
    """Make cloudpickle pickle by value every loaded module whose file lies under a root.

    Airflow puts these folders on ``sys.path``, Ray workers do not have them: a module from
    there (a DAG file, or a helper package next to it) pickled by reference would fail to
    import on the worker.
    """
    folders = [Path(root).resolve() for root in roots if root]
    if not folders:
        return
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not path:
            continue
        try:
            resolved = Path(path).resolve()
        except (OSError, ValueError):
            continue
        if any(resolved.is_relative_to(folder) for folder in folders):
            try:
                cloudpickle.register_pickle_by_value(module)
            except ValueError:  # not importable by name; cloudpickle pickles it by value anyway
                pass


def build_payload(
    function: Any,
    args: tuple,
    kwargs: dict[str, Any],
    *,
    dags_folder: str | None,
    bundle_path: str | os.PathLike[str] | None = None,
    task_label: str,
) -> bytes:
    """Pickle ``(function, args, kwargs)`` for the Ray task; the DAG's own code by value.

    :param dags_folder: ``[core] dags_folder``, where the default (local) DAG bundle lives.
    :param bundle_path: the checkout of the DAG bundle this task was parsed from (a
        ``GitDagBundle``'s versioned clone lies under the bundle storage path, not under
        ``dags_folder``); ``None`` where a task has no bundle (``dag.test()``).
    :param task_label: names the task in the error when something cannot be pickled.
    """
    _register_dag_modules_by_value((dags_folder, bundle_path))
    try:
        return cloudpickle.dumps((function, args, kwargs))
    except Exception as exc:
        raise RayArgumentError(
            f"{task_label}: the callable or its arguments cannot be pickled for Ray "
            f"({type(exc).__name__}: {exc}). Pass plain data (or upstream task results), not "
            "open clients, connections, locks or generators."
        ) from exc
