"""A Ray job's small JSON answer: from a file the job writes, or from its last log line.

The Jobs API has no way to fetch a file from the cluster, so with ``result="file"`` the
entrypoint runs inside a short shell wrapper: the job writes its JSON to the path in
``$RAY_JOB_RESULT_FILE``, and when the entrypoint exits the wrapper prints that file, base64
encoded, as one marked line of the job's log (``JobLog`` takes it out of the task log). The
job's exit status is kept. The wrapper travels in an environment variable of the job, so the
command Ray logs is still the user's own (``sh -c "$RAY_JOB_RESULT_WRAPPER" job 'python
train.py'``). Only ``sh`` and ``base64`` are needed on the cluster's image.

What comes back is read as JSON only, with a size limit: a log line is not trusted enough to
be unpickled, and a result meant for XCom must stay small.
"""

from __future__ import annotations

import base64
import binascii
import json
import shlex
from typing import Any, Literal

from ray_provider.exceptions import RayJobResultError

ResultFrom = Literal["file", "last_line"]
RESULT_SOURCES: tuple[str, ...] = ("file", "last_line")
# The environment variable naming the file a job writes its result to (set by the wrapper).
RESULT_FILE_ENV = "RAY_JOB_RESULT_FILE"
# The environment variable holding the wrapper script.
WRAPPER_ENV = "RAY_JOB_RESULT_WRAPPER"
RESULT_MARKER = "##ray-provider-job-result## "
# What JobLog keeps instead of a result line too long to be a result.
OVERSIZED = "!oversized:"
# A job's result goes to XCom: larger answers belong in the store, not there.
RESULT_LIMIT_BYTES = 64 * 1024
# The longest result line that can hold RESULT_LIMIT_BYTES (base64 of it, and the marker).
RESULT_LINE_LIMIT = len(RESULT_MARKER) + 4 * (RESULT_LIMIT_BYTES // 3 + 1)
# Run as ``sh -c "$RAY_JOB_RESULT_WRAPPER" job ENTRYPOINT``: the entrypoint is ``$1``, run by
# a shell of its own so that an ``exit`` in it ends only itself. The result file is made by
# mktemp (not a predictable name in a shared /tmp). Ray expands ``$NAME`` in environment values
# it knows, so the wrapper's own names are ones no environment has.
WRAPPER_SCRIPT = (
    f'{RESULT_FILE_ENV}="$(mktemp "${{TMPDIR:-/tmp}}/ray-job-result.XXXXXX")" || exit 70\n'
    f"export {RESULT_FILE_ENV}\n"
    'sh -c "$1"\n'
    "_ray_provider_job_exit=$?\n"
    f'if [ -s "${RESULT_FILE_ENV}" ]; then\n'
    f"  printf '{RESULT_MARKER}%s\\n' \"$(base64 < \"${RESULT_FILE_ENV}\" | tr -d '\\n')\"\n"
    "fi\n"
    f'rm -f "${RESULT_FILE_ENV}"\n'
    "exit $_ray_provider_job_exit\n"
)


def wrap_entrypoint(entrypoint: str) -> tuple[str, dict[str, str]]:
    """The wrapped command and the environment variables it needs (see the module docstring)."""
    return f'sh -c "${WRAPPER_ENV}" job {shlex.quote(entrypoint)}', {WRAPPER_ENV: WRAPPER_SCRIPT}


def parse_result(
    source: ResultFrom, *, result_line: str | None, last_line: str | None, job_id: str
) -> Any:
    """The job's JSON answer, or an error that says what the job left instead."""
    if source == "file":
        if result_line is None:
            raise RayJobResultError(
                f"Ray job {job_id} ended without writing its result: with result='file' the "
                f"job writes JSON to the path in ${RESULT_FILE_ENV} (e.g. json.dump(value, "
                f"open(os.environ[{RESULT_FILE_ENV!r}], 'w')))."
            )
        encoded = result_line[len(RESULT_MARKER) :].strip()
        if encoded.startswith(OVERSIZED):
            raise _too_large(job_id, int(encoded[len(OVERSIZED) :]) * 3 // 4)
        if len(encoded) > RESULT_LINE_LIMIT:
            raise _too_large(job_id, len(encoded) * 3 // 4)
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RayJobResultError(
                f"Ray job {job_id}: its result line is not base64 ({exc}); was the log "
                "line changed on the way?"
            ) from exc
        where = f"the file ${RESULT_FILE_ENV}"
    else:
        if last_line is None:
            raise RayJobResultError(
                f"Ray job {job_id} printed nothing: with result='last_line' its last log "
                "line must be JSON, e.g. print(json.dumps(metrics))."
            )
        raw = last_line.encode()
        where = "its last log line"
    if len(raw) > RESULT_LIMIT_BYTES:
        raise _too_large(job_id, len(raw))
    try:
        return json.loads(raw)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, a 5,000-digit integer
        shown = raw[:200].decode(errors="replace")
        raise RayJobResultError(
            f"Ray job {job_id}: {where} is not JSON ({exc}): {shown!r}. Write one JSON value "
            f"(result={source!r})."
        ) from exc


def _too_large(job_id: str, size: int) -> RayJobResultError:
    return RayJobResultError(
        f"Ray job {job_id}: its result is {size:,} bytes, more than the {RESULT_LIMIT_BYTES:,} "
        "a job may hand to XCom. Write large results to the store (S3) and return their "
        "location instead."
    )


def check_result_source(value: Any) -> ResultFrom | None:
    if value is None or value in RESULT_SOURCES:
        return value
    raise RayJobResultError(
        f"result={value!r}: expected one of {', '.join(map(repr, RESULT_SOURCES))} or None."
    )
