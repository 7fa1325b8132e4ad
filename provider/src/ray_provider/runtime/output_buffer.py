"""The output of running ``@task.ray`` callables, held by the registry until Airflow reads it.

A Ray worker ships what its callable prints as it prints it (``runtime.live_output``); the
waiting Airflow task (or its trigger) reads it back by cursor every second or so and writes it
to the task log. So a ten-minute training shows its rounds while they happen, not at the end.

Each try has one :class:`OutputBuffer`: an ordered list of ``(stream, text)`` chunks, where a
cursor is the number of characters shipped before a chunk. Readers pass the cursor they got
last time, so two readers (a trigger, then the resumed task) never see a chunk twice and never
skip one. The buffer is bounded: when a reader falls behind (or nobody reads), the oldest
chunks go, and the next read says how many characters were dropped instead of silently
missing them.

Plain Python (no Ray): the registry actor holds one per try under its lock.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

# Characters one try may hold unread; older output is dropped (and counted) beyond this. A
# reader drains everything new every second, so this is several seconds of a callable that
# does nothing but print (measured: about 6.5 MB/s on 2 cores) before anything is lost.
MAX_BUFFERED_CHARS = 16_000_000
# The most one read returns; a reader asks again while it gets full reads.
MAX_READ_CHARS = 4_000_000

Chunk = tuple[str, str]  # (stream: "stdout" | "stderr", text)


@dataclass(frozen=True)
class OutputRead:
    """What one read returns: the chunks after the cursor, the next cursor, and the losses."""

    chunks: list[Chunk]
    cursor: int
    dropped: int  # characters between the given cursor and the first chunk returned
    closed: bool  # the callable has finished and everything it printed is in the buffer
    more: bool = False  # the buffer holds more after ``cursor`` than this read returned


@dataclass
class OutputBuffer:
    """Bounded, ordered output of one try (see the module docstring)."""

    limit: int = MAX_BUFFERED_CHARS
    _chunks: deque[tuple[int, str, str]] = field(default_factory=deque)  # (start, stream, text)
    _end: int = 0  # cursor after the last chunk
    _held: int = 0  # characters in _chunks
    _read_to: int = 0  # the furthest cursor a read has returned
    closed: bool = False
    touched: float = field(default_factory=time.monotonic)

    def append(self, chunks: list[Chunk], *, close: bool = False) -> None:
        for stream, text in chunks:
            if not text:
                continue
            self._chunks.append((self._end, stream, text))
            self._end += len(text)
            self._held += len(text)
        while self._held > self.limit and len(self._chunks) > 1:
            _, _, text = self._chunks.popleft()
            self._held -= len(text)
        self.closed = self.closed or close
        self.touched = time.monotonic()

    def unread(self) -> int:
        """Characters held that no read has returned yet: how far the reader is behind."""
        return min(self._held, max(0, self._end - self._read_to))

    def read(self, cursor: int, max_chars: int = MAX_READ_CHARS) -> OutputRead:
        """Chunks starting at ``cursor`` or later, up to about ``max_chars`` characters."""
        result = self._read(cursor, max_chars)
        self._read_to = max(self._read_to, result.cursor)
        return result

    def _read(self, cursor: int, max_chars: int) -> OutputRead:
        self.touched = time.monotonic()
        out: list[Chunk] = []
        first_start: int | None = None
        position = cursor
        taken = 0
        for start, stream, text in self._chunks:
            end = start + len(text)
            if end <= cursor:
                continue
            if start < cursor:  # a reader never splits chunks, but be exact if one did
                text = text[cursor - start :]
                start = cursor
            if out and taken + len(text) > max_chars:
                break
            first_start = start if first_start is None else first_start
            out.append((stream, text))
            taken += len(text)
            position = start + len(text)
        if first_start is None:
            # Nothing after the cursor is held; anything shipped after it was dropped.
            return OutputRead([], max(cursor, self._end), max(0, self._end - cursor), self.closed)
        complete = position == self._end
        return OutputRead(
            out, position, first_start - cursor, self.closed and complete, more=not complete
        )

    def idle_for(self) -> float:
        return time.monotonic() - self.touched
