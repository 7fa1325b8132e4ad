"""Ship what a ``@task.ray`` callable prints to the registry while it runs.

The callable's ``print`` must stay as cheap as printing locally, so a write takes no lock: it
appends to a deque (thread-safe on its own) and adds to a count that only writers change; the
lock is for the rare trim of a backlog and for the shipper's side. A background thread sends
what gathered to the registry actor about every ``SHIP_INTERVAL_SECONDS`` and waits for each
send before the next, which keeps the chunks in the order they were written (a threaded actor
may run concurrent calls out of order). If the registry is slow, unsent output is bounded like
the registry's own buffer: the oldest is dropped and a marker says how much. ``close`` sends the
rest and marks the output complete before the task returns, so the Airflow side has everything
once the task's report is ready.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import ray

from ray_provider.runtime.output_buffer import MAX_BUFFERED_CHARS, Chunk

SHIP_INTERVAL_SECONDS = 0.25
# How long closing waits for the registry to take the last output.
CLOSE_TIMEOUT_SECONDS = 30.0


def coalesce(chunks: list[Chunk]) -> list[Chunk]:
    """Join neighbouring writes to the same stream (``print`` writes text and newline apart)."""
    groups: list[tuple[str, list[str]]] = []
    for stream, text in chunks:
        if groups and groups[-1][0] == stream:
            groups[-1][1].append(text)
        else:
            groups.append((stream, [text]))
    return [(stream, "".join(parts)) for stream, parts in groups]


class OutputShipper:
    """Collects ``(stream, text)`` writes and sends them to ``registry.append_output``."""

    def __init__(self, registry: Any, key: str, generation: str) -> None:
        self._registry = registry
        self._key = key
        self._generation = generation
        self._pending: deque[Chunk] = deque()
        # Characters written, and characters taken off the deque (sent, dropped): what is
        # pending is the difference. Two counters, so no write shares one with the shipper.
        self._written = 0
        self._taken = 0
        self._dropped = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self.failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ray-provider-output", daemon=True)
        self._thread.start()

    def write(self, stream: str, text: str) -> None:
        self._pending.append((stream, text))
        self._written += len(text)
        if self._written - self._taken > MAX_BUFFERED_CHARS:
            self._trim()

    def _trim(self) -> None:
        """Drop the oldest output while more than the bound waits (the registry is slow)."""
        with self._lock:
            while self._written - self._taken > MAX_BUFFERED_CHARS and len(self._pending) > 1:
                _, removed = self._pending.popleft()
                self._taken += len(removed)
                self._dropped += len(removed)

    def _take(self) -> list[Chunk]:
        with self._lock:
            # Only what is there now: writers go on appending at the other end meanwhile.
            chunks = [self._pending.popleft() for _ in range(len(self._pending))]
            self._taken += sum(len(text) for _, text in chunks)
            if self._dropped:
                note = f"[... {self._dropped:,} characters of output dropped: the log fell behind]"
                note += "\n"
                chunks.insert(0, ("stderr", note))
                self._dropped = 0
        return coalesce(chunks)

    def _send(self, chunks: list[Chunk], close: bool) -> None:
        if not chunks and not close:
            return
        try:
            ray.get(
                self._registry.append_output.remote(self._key, self._generation, chunks, close),
                timeout=CLOSE_TIMEOUT_SECONDS,
            )
        except Exception as exc:  # never fail the callable for its log; the report says so
            self.failed = exc
            with self._lock:  # keep what this send carried, for the report
                self._pending.extendleft(reversed(chunks))
                self._taken -= sum(len(text) for _, text in chunks)

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(SHIP_INTERVAL_SECONDS)
            if self._stopping or self.failed is not None:
                return  # after a failure the rest stays pending, for the report (unsent)
            self._send(self._take(), close=False)

    def close(self) -> None:
        """Send what is left and mark the output complete (waits for the registry)."""
        self._stopping = True
        self._wake.set()
        self._thread.join(CLOSE_TIMEOUT_SECONDS)
        if self.failed is None:
            self._send(self._take(), close=True)

    def unsent(self, stream: str) -> str:
        """After a failed send: what this stream wrote that never reached the registry."""
        with self._lock:
            return "".join(text for name, text in self._pending if name == stream)
