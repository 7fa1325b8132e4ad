"""A Ray job's log as it arrives in chunks: whole lines to the task log, a tail kept for errors.

Ray's log tail hands out chunks that can end mid-line, so a line is passed on only once it is
complete (or the log ends). The last lines are kept because a failed job's task fails with
its own error, and the result line of ``result="file"`` (``job_result``) is taken out of the
stream: it is the job's answer, not a line a person wants to read.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from ray_provider.client.job_result import OVERSIZED, RESULT_LINE_LIMIT, RESULT_MARKER

# Lines of a job's log kept for its task's error message.
TAIL_LINES = 40
# A "line" longer than this (a progress bar redrawn with \r, a dumped array) is passed on in
# pieces of this size, so neither the task log nor a trigger event holds megabytes of one line.
MAX_LINE_CHARS = max(64 * 1024, RESULT_LINE_LIMIT + 1024)


class JobLog:
    """Splits a job's log into lines (see the module docstring).

    :param on_line: called with each complete line, in order (the task log).
    :param tail_lines: how many of the last lines to keep.
    """

    def __init__(self, on_line: Callable[[str], None], tail_lines: int = TAIL_LINES) -> None:
        self._on_line = on_line
        self._partial = ""
        self._tail: deque[str] = deque(maxlen=tail_lines)
        self.received = 0
        self.lines = 0
        self.result_line: str | None = None

    def feed(self, chunk: str) -> None:
        if not chunk:
            return
        self.received += len(chunk)
        text = self._partial + chunk
        *complete, self._partial = text.split("\n")
        for line in complete:
            self._line(line.rstrip("\r"))
        while len(self._partial) > MAX_LINE_CHARS:
            self._line(self._partial[:MAX_LINE_CHARS])
            self._partial = self._partial[MAX_LINE_CHARS:]

    def close(self) -> None:
        """The log has ended: an unfinished last line is a line too."""
        if self._partial:
            self._line(self._partial.rstrip("\r"))
            self._partial = ""

    def tail(self) -> list[str]:
        return list(self._tail)

    @property
    def last_line(self) -> str | None:
        """The last line that is not blank (``result="last_line"``)."""
        return next((line for line in reversed(self._tail) if line.strip()), None)

    def _line(self, line: str) -> None:
        before, marker, result = line.partition(RESULT_MARKER)
        if marker:
            # Printed at the job's exit, after a last line that may have had no newline.
            too_long = len(marker) + len(result) > RESULT_LINE_LIMIT
            self.result_line = marker + (f"{OVERSIZED}{len(result)}" if too_long else result)
            if not before:
                return
            line = before
        self.lines += 1
        self._tail.append(line)
        self._on_line(line)
