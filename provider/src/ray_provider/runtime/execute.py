"""The wrapper every ``@task.ray`` callable runs in on a Ray worker.

It returns two objects (``num_returns=2``): the result, which the registry actor keeps, and a
small report (result type and size, or the exception and its remote traceback) that the
Airflow task fetches. What the callable prints goes to the registry while it runs
(``runtime.live_output``), and the Airflow task writes it to its log as it arrives; the report
carries the captured output only when that live path was off or broke. The exception is caught
and reported rather than raised so that the output printed before it still reaches the log.
"""

from __future__ import annotations

import io
import os
import socket
import sys
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ray import cloudpickle

from ray_provider.runtime.live_output import OutputShipper
from ray_provider.runtime.output_tail import tail_of
from ray_provider.runtime.portable import PortableModin, make_portable, restore
from ray_provider.runtime.walk import KEEP, children, walk

# Output kept per stream; the start and the end are kept when a task prints more.
MAX_CAPTURED_CHARS = 2_000_000


@dataclass(frozen=True)
class RefSlot:
    """Placeholder for the i-th upstream result passed to the wrapper as a top-level argument.

    ``item``: only that item of it (a list index or dict key), for a task mapped over it.
    """

    index: int
    item: int | str | None = None


@dataclass
class TaskReport:
    """What the Airflow side learns about a finished Ray task (small, always fetched)."""

    ok: bool
    # Captured output, filled only when ``live_output`` is False (see the module docstring).
    stdout: str = ""
    stderr: str = ""
    live_output: bool = False
    live_output_error: str = ""
    result_type: str = ""
    result_size: int = 0
    error: bytes | None = None  # the pickled exception, when it pickles
    error_type: str = ""
    error_message: str = ""
    traceback: str = ""
    node: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    seconds: float = 0.0
    ray_task_id: str = ""
    ray_job_id: str = ""


class _Tee(io.TextIOBase):
    """Writes to the worker's own stream (kept in Ray's logs) and to the shipper, or, without
    one, to a bounded buffer that the report carries."""

    def __init__(self, original: Any, stream: str, shipper: OutputShipper | None) -> None:
        self._original = original
        self._stream = stream
        # Bound once: a chatty callable pays for every lookup on every write.
        self._ship = shipper.write if shipper is not None else None
        self._head: list[str] = []
        self._head_len = 0
        # A deque: once the head is full every write drops from the tail's front (O(1)).
        self._tail: deque[str] = deque()
        self._tail_len = 0
        self.dropped = 0

    def write(self, text: str) -> int:
        try:
            self._original.write(text)
        except Exception:  # the worker's stream must never break the task
            pass
        if self._ship is not None:
            # The registry has the output; the shipper keeps what it could not send.
            self._ship(self._stream, text)
            return len(text)
        if self._head_len < MAX_CAPTURED_CHARS // 2:
            self._head.append(text)
            self._head_len += len(text)
        else:
            self._tail.append(text)
            self._tail_len += len(text)
            while self._tail_len > MAX_CAPTURED_CHARS // 2 and len(self._tail) > 1:
                removed = self._tail.popleft()
                self._tail_len -= len(removed)
                self.dropped += len(removed)
        return len(text)

    def flush(self) -> None:
        try:
            self._original.flush()
        except Exception:
            pass

    def getvalue(self) -> str:
        middle = (
            f"\n[... {self.dropped} characters of output dropped ...]\n" if self.dropped else ""
        )
        return "".join(self._head) + middle + "".join(self._tail)


class _DrainingStream(io.TextIOBase):
    """``sys.stderr`` while the worker's log files are followed: a write goes to the worker's
    own stream as before, then both files are drained, so what stdout printed before it is
    shipped before it (the files alone do not say how the two streams interleave)."""

    def __init__(self, original: Any, drain: Any) -> None:
        self._original = original
        self._drain = drain

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._original, "encoding", None) or "utf-8"

    def fileno(self) -> int:
        return self._original.fileno()

    def write(self, text: str) -> int:
        try:
            self._original.write(text)
        except Exception:  # as _Tee: the worker's stream must never break the task
            pass
        self._drain()
        return len(text)

    def flush(self) -> None:
        try:
            self._original.flush()
        except Exception:
            pass


def _live_streams(shipper: OutputShipper) -> tuple[Any, Any] | None:
    """``(stdout, stderr)`` for the callable when the worker's streams can be followed as
    files (``runtime.output_tail``): stdout stays the worker's own, stderr drains on write."""
    out, err = tail_of(sys.stdout, "stdout"), tail_of(sys.stderr, "stderr")
    if out is None or err is None:
        for tail in (out, err):
            if tail is not None:
                tail.finish()  # both streams or neither: one way of keeping their order
        return None
    shipper.follow(out, err)
    return sys.stdout, _DrainingStream(sys.stderr, shipper.drain)


def _substitute(value: Any, resolved: tuple[Any, ...]) -> Any:
    """Fill the slots that ``extract_upstream`` put in, with the same walk (no item limit)."""

    def fill(node: Any) -> Any:
        if not isinstance(node, RefSlot):
            return KEEP
        value = resolved[node.index]
        return restore(value if node.item is None else value[node.item])

    return walk(value, fill)


def _size_of(value: Any) -> int:
    if isinstance(value, PortableModin):
        return _size_of(value.frame)
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    memory_usage = getattr(value, "memory_usage", None)
    if callable(memory_usage):
        try:
            usage = memory_usage(deep=True)
            return int(usage.sum()) if hasattr(usage, "sum") else int(usage)
        except Exception:
            pass
    found = children(value)
    if found is not None:
        return sum(_size_of(item) for item in found.values)
    return sys.getsizeof(value)


def _describe(value: Any) -> str:
    if isinstance(value, PortableModin):
        return f"modin.pandas.{value.kind}"
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _error_report(exc: BaseException) -> dict[str, Any]:
    try:
        pickled = cloudpickle.dumps(exc)
        cloudpickle.loads(pickled)
    except Exception:
        pickled = None
    return {
        "error": pickled,
        "error_type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "error_message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }


def item_keys(value: Any) -> list[int | str] | None:
    """What ``.expand()`` maps over: list/tuple indices or dict keys; None if neither."""
    if isinstance(value, list | tuple):
        return list(range(len(value)))
    if isinstance(value, dict):
        return list(value)
    return None


def _ray_ids() -> dict[str, str]:
    """This Ray task's and job's ids (for the dashboard link); empty outside a Ray task."""
    try:
        import ray

        context = ray.get_runtime_context()
        return {"ray_task_id": context.get_task_id() or "", "ray_job_id": context.get_job_id()}
    except Exception:
        return {}


def _output_fields(out: Any, err: Any, shipper: OutputShipper | None) -> dict[str, Any]:
    """Close the live output; the report carries the captured output only if that failed."""
    if shipper is not None:
        for stream in (out, err):
            try:
                stream.flush()  # into the followed file, or the shipper, before the last send
            except Exception:
                pass
        shipper.close()
        if shipper.failed is None:
            return {"live_output": True}
        return {
            "stdout": shipper.unsent("stdout"),
            "stderr": shipper.unsent("stderr"),
            "live_output_error": f"{type(shipper.failed).__name__}: {shipper.failed}",
        }
    return {"stdout": out.getvalue(), "stderr": err.getvalue()}


def run_callable(payload: bytes, started_signal: Any, *resolved: Any) -> tuple[Any, TaskReport]:
    """Run the pickled ``(callable, args, kwargs)``; upstream results arrive as ``resolved``.

    ``started_signal`` is ``(registry, key, generation)``: the registry learns that the task
    left the scheduler's queue (so a wait can tell "pending" from "running"), which Ray task
    it is, and receives its output while it runs; ``None`` skips all three (the output then
    comes back in the report).
    """
    ids = _ray_ids()
    shipper = None
    if started_signal is not None:
        registry, key, generation = started_signal
        registry.mark_started.remote(key, generation, ids.get("ray_task_id", ""))
        shipper = OutputShipper(registry, key, generation)
    started = time.monotonic()
    followed = _live_streams(shipper) if shipper is not None else None
    if followed is not None:
        out, err = followed
    else:
        out, err = _Tee(sys.stdout, "stdout", shipper), _Tee(sys.stderr, "stderr", shipper)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        function, args, kwargs = cloudpickle.loads(payload)
        args = _substitute(args, resolved)
        kwargs = _substitute(kwargs, resolved)
        value = make_portable(function(*args, **kwargs))
    except BaseException as exc:  # reported to Airflow, which raises it there
        sys.stdout, sys.stderr = saved
        report = TaskReport(
            ok=False,
            seconds=time.monotonic() - started,
            **_output_fields(out, err, shipper),
            **ids,
            **_error_report(exc),
        )
        return None, report
    sys.stdout, sys.stderr = saved
    report = TaskReport(
        ok=True,
        result_type=_describe(value),
        result_size=_size_of(value),
        seconds=time.monotonic() - started,
        **_output_fields(out, err, shipper),
        **ids,
    )
    return value, report
