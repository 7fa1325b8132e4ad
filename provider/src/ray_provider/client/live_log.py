"""Turn a running try's shipped output into log lines, in order, as it arrives.

The registry hands back ``(stream, text)`` chunks (``runtime.output_buffer``); a chunk may end
mid-line. ``LiveLog`` keeps the unfinished line of each stream until its newline comes (or the
output ends), so a line is never split across two log records, except one longer than
``MAX_LINE_CHARS``, which is written in pieces rather than held (or lost). The cursor is plain
data, so a trigger can hand it to the resumed task and no line is logged twice.

``on_ray_task`` hears the Ray task's id the first time a read carries it, before that read's
lines are logged: whoever reads the log sees where to find the task before its output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# A line longer than this is logged in pieces of this size.
MAX_LINE_CHARS = 65_536

Emit = Callable[[str, str], None]  # (stream, line)


@dataclass
class LiveLog:
    """Cursor and unfinished lines of one try's output (see the module docstring)."""

    emit: Emit
    cursor: int = 0
    partial: dict[str, str] = field(default_factory=dict)
    ray_task_id: str = ""
    closed: bool = False
    on_ray_task: Callable[[str], None] | None = None

    def feed(self, read: dict[str, Any]) -> None:
        """Log the complete lines of one ``read_output`` answer."""
        if read.get("ray_task_id") and not self.ray_task_id:
            self.ray_task_id = read["ray_task_id"]
            if self.on_ray_task is not None:
                self.on_ray_task(self.ray_task_id)
        if read["dropped"]:
            self.emit(
                "stderr",
                f"[... {read['dropped']:,} characters of output dropped: the log fell behind]",
            )
        for stream, text in read["chunks"]:
            self._lines(stream, self.partial.pop(stream, "") + text)
        self.cursor = read["cursor"]
        self.closed = bool(read["closed"])
        if self.closed:
            self.finish()

    def _lines(self, stream: str, text: str) -> None:
        *complete, rest = text.split("\n")
        for line in complete:
            self._emit_long(stream, line)
        while len(rest) > MAX_LINE_CHARS:
            self.emit(stream, rest[:MAX_LINE_CHARS])
            rest = rest[MAX_LINE_CHARS:]
        if rest:
            self.partial[stream] = rest

    def _emit_long(self, stream: str, line: str) -> None:
        for start in range(0, max(len(line), 1), MAX_LINE_CHARS):
            self.emit(stream, line[start : start + MAX_LINE_CHARS])

    def finish(self) -> None:
        """Log what is left of unfinished lines (the output ended without a newline)."""
        for stream in list(self.partial):
            self.emit(stream, self.partial.pop(stream))

    def state(self) -> dict[str, Any]:
        """What a trigger event carries so the resumed task goes on from here."""
        return {"cursor": self.cursor, "partial": dict(self.partial)}
