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

Where the worker's streams are regular files (a Ray worker's log files), nothing is copied on
write: the shipper follows the files (``runtime.output_tail``) and drains what they gained
before each send, and a write to ``sys.stderr`` drains both at once so the two streams stay in
the order they were written.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import ray

from ray_provider.runtime.output_buffer import MAX_BUFFERED_CHARS, Chunk
from ray_provider.runtime.output_tail import FileTail

SHIP_INTERVAL_SECONDS = 0.25
# Chunks sent are joined up to about this size (a followed file is read in pieces as large).
CHUNK_CHARS = 1_000_000
# Followed files are drained only while the registry holds less than this unread, so a fast
# printer's backlog waits on disk instead of pushing unread output out of the registry.
PACE_CHARS = MAX_BUFFERED_CHARS // 2
# Closing waits for a reader that is catching up; one that reads nothing this long is gone.
READER_STALL_SECONDS = 2.0
# How long closing waits for the registry to take the last output.
CLOSE_TIMEOUT_SECONDS = 30.0


def coalesce(chunks: list[Chunk], most: int = CHUNK_CHARS) -> list[Chunk]:
    """Join neighbouring writes to the same stream (``print`` writes text and newline apart),
    up to about ``most`` characters a chunk: the registry drops whole chunks when full."""
    groups: list[tuple[str, list[str], list[int]]] = []
    for stream, text in chunks:
        if groups and groups[-1][0] == stream and groups[-1][2][0] < most:
            groups[-1][1].append(text)
            groups[-1][2][0] += len(text)
        else:
            groups.append((stream, [text], [len(text)]))
    return [(stream, "".join(parts)) for stream, parts, _ in groups]


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
        # Followed files, drained in this order; reentrant, for a write made while draining.
        self._tails: tuple[FileTail, ...] = ()
        self._drain_lock = threading.RLock()
        self._unread = 0  # what the registry last said its reader had not read
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

    def follow(self, *tails: FileTail) -> None:
        """Ship what these files gain (the worker's streams); call before the callable runs."""
        self._tails = tails

    def drain(self, limit: int | None = None) -> bool:
        """Move what the followed files gained into the pending output, each up to its end,
        or about ``limit`` characters in all; ``True`` if the files are left behind.

        Never raises (a ``print`` calls it): a file that cannot be read any more is a failure
        of the live output, which the report then carries, as for a send that failed.
        """
        with self._drain_lock:
            taken = 0
            try:
                for tail in self._tails:
                    while limit is None or taken < limit:
                        text = tail.read()
                        if not text:
                            break
                        self.write(tail.stream, text)
                        taken += len(text)
                    else:
                        return True
            except OSError as exc:
                self._tails = ()
                self.failed = self.failed or exc
            return False

    def _budget(self) -> int:
        return max(0, PACE_CHARS - self._unread)

    def _close_followed(self, clock: Any = time.monotonic) -> None:
        """Send the files' rest at the reader's pace while it reads; then all of it."""
        behind, stalled_since = True, clock()
        while behind and self.failed is None:
            before = self._unread
            behind = self.drain(self._budget())
            self._send(self._take(), close=False, poll=True)
            if self._unread < before or not behind:
                stalled_since = clock()
            elif clock() - stalled_since > READER_STALL_SECONDS:
                break  # nobody reads: the registry keeps the newest, and says what it dropped
            elif self._budget() == 0:
                time.sleep(0.05)

    def _finish_tails(self) -> None:
        if self._tails and self.failed is None:
            self._close_followed()
        with self._drain_lock:
            self.drain()
            for tail in self._tails:
                if rest := tail.finish():
                    self.write(tail.stream, rest)
            self._tails = ()  # a late write to the stream is not this task's

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

    def _send(self, chunks: list[Chunk], close: bool, poll: bool = False) -> None:
        """Send ``chunks``; ``poll``: even none, to learn how far behind the reader is."""
        if not chunks and not close and not poll:
            return
        try:
            unread = ray.get(
                self._registry.append_output.remote(self._key, self._generation, chunks, close),
                timeout=CLOSE_TIMEOUT_SECONDS,
            )
            self._unread = unread if isinstance(unread, int) else 0
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
            self.drain(self._budget())
            if self.failed is None:
                self._send(self._take(), close=False, poll=bool(self._tails))

    def close(self) -> None:
        """Send what is left and mark the output complete (waits for the registry)."""
        self._stopping = True
        self._wake.set()
        self._thread.join(CLOSE_TIMEOUT_SECONDS)
        self._finish_tails()  # after a failed send too: the report carries it (bounded)
        if self.failed is None:
            self._send(self._take(), close=True)

    def unsent(self, stream: str) -> str:
        """After a failed send: what this stream wrote that never reached the registry."""
        with self._lock:
            return "".join(text for name, text in self._pending if name == stream)
