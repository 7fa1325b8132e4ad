"""The pure parts of RaySubmitJobOperator: log lines from chunks, the JSON result, the job id."""

from __future__ import annotations

import base64
import json
import subprocess
from types import SimpleNamespace

import pytest

from ray_provider.client.job_log import JobLog
from ray_provider.client.job_result import (
    RESULT_LIMIT_BYTES,
    RESULT_MARKER,
    parse_result,
    wrap_entrypoint,
)
from ray_provider.exceptions import RayArgumentError, RayJobResultError


def test_chunks_become_whole_lines_in_order():
    lines: list[str] = []
    log = JobLog(lines.append, tail_lines=2)
    for chunk in ("round 1\nro", "und 2\r\n", "", "round 3"):
        log.feed(chunk)
    assert lines == ["round 1", "round 2"]
    log.close()
    assert lines == ["round 1", "round 2", "round 3"]
    assert log.tail() == ["round 2", "round 3"]
    assert log.received == len("round 1\nround 2\r\nround 3")


def test_the_result_line_is_taken_out_of_the_log_even_after_an_unfinished_line():
    lines: list[str] = []
    log = JobLog(lines.append)
    log.feed(f"last words{RESULT_MARKER}e30=\n")
    log.close()
    assert lines == ["last words"]
    assert log.result_line == f"{RESULT_MARKER}e30="
    assert log.last_line == "last words"


def run_wrapped(tmp_path, command: str) -> subprocess.CompletedProcess:
    entrypoint, env = wrap_entrypoint(command)
    env = {**env, "PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)}
    return subprocess.run(entrypoint, shell=True, env=env, capture_output=True, text=True)


def test_the_wrapper_prints_the_result_file_and_keeps_the_exit_status(tmp_path):
    write = """echo '{"auc": 0.91}' > "$RAY_JOB_RESULT_FILE"; """
    done = run_wrapped(tmp_path, write + "echo 'it''s done $HOME'; exit 3")
    assert done.returncode == 3
    lines = done.stdout.splitlines()
    assert lines[0] == "its done $HOME"
    value = parse_result("file", result_line=lines[-1], last_line=None, job_id="j")
    assert value == {"auc": 0.91}
    # The file was made by mktemp in TMPDIR, and is gone.
    assert list(tmp_path.iterdir()) == []


def test_the_wrapper_prints_nothing_without_a_result_file(tmp_path):
    done = run_wrapped(tmp_path, "echo only output")
    assert done.returncode == 0 and done.stdout == "only output\n"


def test_long_lines_are_passed_on_in_pieces_and_an_oversized_result_is_refused():
    from ray_provider.client.job_log import MAX_LINE_CHARS

    lines: list[str] = []
    log = JobLog(lines.append)
    log.feed("x" * (2 * MAX_LINE_CHARS + 10))
    assert [len(line) for line in lines] == [MAX_LINE_CHARS, MAX_LINE_CHARS]
    log.feed("\n" + RESULT_MARKER + "A" * (RESULT_LIMIT_BYTES * 2) + "\n")
    log.close()
    with pytest.raises(RayJobResultError, match="more than the 65,536"):
        parse_result("file", result_line=log.result_line, last_line=None, job_id="j")


@pytest.mark.parametrize(
    ("source", "line", "last", "message"),
    [
        ("file", None, "x", "ended without writing its result"),
        ("file", RESULT_MARKER + "not base64!", None, "not base64"),
        ("file", RESULT_MARKER + base64.b64encode(b"{nope").decode(), None, "not JSON"),
        ("last_line", None, None, "printed nothing"),
        ("last_line", None, "Done.", "its last log line is not JSON"),
        ("last_line", None, json.dumps("x" * RESULT_LIMIT_BYTES), "more than the 65,536"),
    ],
)
def test_a_bad_result_says_what_the_job_left(source, line, last, message):
    with pytest.raises(RayJobResultError, match=message):
        parse_result(source, result_line=line, last_line=last, job_id="j")


def test_submission_ids_are_readable_and_new_every_time(monkeypatch):
    from ray_provider.operators.ray_job import new_submission_id, submission_id_prefix

    monkeypatch.delenv("AIRFLOW__RAY_PROVIDER__DEPLOYMENT_KEY", raising=False)
    ti = SimpleNamespace(
        dag_id="higgs",
        task_id="train model",
        run_id="manual__2026-12-03T10:00",
        map_index=2,
        try_number=1,
    )
    first = new_submission_id(ti)
    assert first.startswith("airflow_unkeyed_higgs_train-model_2_") and "_try1_" in first
    # A run made again with the same id gets a new job id (Ray refuses a used one).
    assert new_submission_id(ti) != first
    assert first.startswith(submission_id_prefix(ti))
    other_run = SimpleNamespace(**{**vars(ti), "run_id": "manual__2026-12-04T10:00"})
    assert not new_submission_id(other_run).startswith(submission_id_prefix(ti))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"entrypoint": ""}, "entrypoint"),
        ({"entrypoint_num_cpus": -1}, "entrypoint_num_cpus"),
        ({"entrypoint_memory": "lots"}, "memory"),
        ({"entrypoint_resources": {"TPU": "x"}}, "entrypoint_resources"),
        ({"result": "stdout"}, "result"),
    ],
)
def test_bad_arguments_are_refused_when_the_dag_is_parsed(kwargs, field):
    from ray_provider.operators.ray_job import RaySubmitJobOperator

    arguments = {"task_id": "job", "entrypoint": "python train.py", **kwargs}
    with pytest.raises((RayArgumentError, RayJobResultError), match=field):
        RaySubmitJobOperator(**arguments)
