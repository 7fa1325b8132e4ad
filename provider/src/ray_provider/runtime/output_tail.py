"""Read a Ray worker's own log files back, instead of intercepting every ``print``.

A Ray worker's ``sys.stdout``/``sys.stderr`` write to its log files (``worker-*.out`` and
``.err``) and flush after every write. Wrapping them in Python to copy each write costs a
chatty callable about as much again as the write itself (measured in ``bench/`` section 6), so
where the streams are regular files the provider leaves them alone and reads what they gained
since the task began, with ``os.pread`` from a background thread. Two things come with it: what
native code writes to the file descriptors (CUDA, NCCL, a C library's ``printf``) reaches the
Airflow log too, and a backlog waits on disk, not in the worker's memory.

Where a stream is not a regular file (a pipe, a terminal, an in-memory capture) or the system
has no ``/proc/self/fd`` to open it again for reading, ``tail_of`` returns ``None`` and the
caller copies writes in Python instead (``runtime.execute._Tee``).
"""

from __future__ import annotations

import codecs
import io
import os
import stat
from collections.abc import Callable
from typing import Any

# Bytes one read takes; a drain reads on until it has caught up.
READ_BYTES = 1024 * 1024


class FileTail:
    """What one stream's file gained since ``__init__``, decoded as the stream encodes it."""

    def __init__(
        self, fd: int, stream: str, encoding: str, flush: Callable[[], Any] | None = None
    ) -> None:
        self.stream = stream
        self._fd = fd
        # A stream that buffers (Ray's flush after every write) gets its last write to the file.
        self._flush = flush
        self._offset = os.fstat(fd).st_size
        # Incremental: a read may end inside a multi-byte character.
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")

    def read(self) -> str:
        """The next piece (at most ``READ_BYTES``) written since the last read; "" if none."""
        if self._flush is not None:
            try:
                self._flush()
            except Exception:  # a closed or broken stream: read what reached the file
                pass
        size = os.fstat(self._fd).st_size
        if size < self._offset:  # truncated in place (a log rotation): go on from its start
            self._offset = 0
        if size == self._offset:
            return ""
        data = os.pread(self._fd, min(size - self._offset, READ_BYTES), self._offset)
        self._offset += len(data)
        return self._decoder.decode(data)

    def finish(self) -> str:
        """Whatever a cut-off character left in the decoder (replaced), once the task is done;
        closes this tail's own descriptor."""
        try:
            os.close(self._fd)
        except OSError:
            pass
        return self._decoder.decode(b"", final=True)


def tail_of(stream: Any, name: str) -> FileTail | None:
    """A tail of ``stream``'s file when it is a regular file, else ``None``.

    The stream is flushed first, so what it held before the task is not taken for the task's.
    """
    try:
        stream.flush()
        written = stream.fileno()
        if not stat.S_ISREG(os.fstat(written).st_mode):
            return None
        encoding = getattr(stream, "encoding", None) or "utf-8"
        codecs.lookup(encoding)
        # The stream's descriptor is write-only (Ray opens its logs to append): open the same
        # file again to read, through /proc (Linux), which also works once it is renamed.
        fd = os.open(f"/proc/self/fd/{written}", os.O_RDONLY | os.O_CLOEXEC)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation, LookupError):
        return None
    return FileTail(fd, name, encoding, flush=stream.flush)
