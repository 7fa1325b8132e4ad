"""A running callable's output reaches the waiting side while it runs, complete and in order.

Against the session's real Ray head, through ``RayResults.run`` as ``@task.ray`` calls it. The
liveness test is a handshake, not a timing: the callable prints, then blocks until a gate file
exists, and only the line arriving at the Airflow side opens the gate.
"""

from __future__ import annotations

import threading

from ray import cloudpickle

from ray_provider.client.live_log import MAX_LINE_CHARS
from ray_provider.runtime.output_buffer import MAX_BUFFERED_CHARS


def run_collecting(hook, task_id, function, *args, on_line=None, on_ray_task=None):
    """``function(*args)`` through the registry; returns (run, [(stream, line)...])."""
    lines: list[tuple[str, str]] = []

    def collect(stream: str, line: str) -> None:
        lines.append((stream, line))
        if on_line is not None:
            on_line(stream, line)

    results = hook.results()
    run = results.run(
        results.new_result("live", "r1", task_id),
        cloudpickle.dumps((function, args, {})),
        options={"num_cpus": 1},
        on_output=collect,
        on_ray_task=on_ray_task,
    )
    return run, lines


def print_then_wait(gate: str) -> str:
    import sys
    from pathlib import Path

    from devstack.processes import wait_until

    print("round 1 done")
    print("warming up", file=sys.stderr)
    wait_until(Path(gate).exists, 120, "the gate", interval=0.05)
    print("after the gate")
    return "ok"


def test_output_arrives_while_the_callable_runs(hook, tmp_path):
    gate = tmp_path / "gate"
    seen = threading.Event()
    paths: list[str] = []

    def open_gate(stream: str, line: str) -> None:
        if line == "round 1 done":
            seen.set()
            gate.touch()  # only a live line can release the callable

    run, lines = run_collecting(
        hook, "gate", print_then_wait, str(gate), on_line=open_gate, on_ray_task=paths.append
    )
    assert run.report.ok and seen.is_set()
    assert run.report.live_output and run.report.stdout == ""  # not sent twice
    assert lines == [
        ("stdout", "round 1 done"),
        ("stderr", "warming up"),
        ("stdout", "after the gate"),
    ]
    [path] = paths
    assert path == f"#/jobs/{run.report.ray_job_id}/tasks/{run.report.ray_task_id}"
    assert run.report.ray_task_id
    hook.results().release_run("live", "r1")


def chatty(lines: int) -> int:
    import sys

    for i in range(lines):
        stream = sys.stderr if i % 7 == 0 else sys.stdout
        print(f"line {i}", file=stream)
    sys.stdout.write("no newline at the end")
    return lines


def test_many_lines_keep_their_order_across_streams(hook):
    run, lines = run_collecting(hook, "chatty", chatty, 20_000)
    assert run.report.ok
    expected = [("stderr" if i % 7 == 0 else "stdout", f"line {i}") for i in range(20_000)]
    assert lines[:-1] == expected
    assert lines[-1] == ("stdout", "no newline at the end")
    # The registry forgets a try's output once it has been read to the end.
    slot_key = run.ref.key
    read = hook.results()._call(lambda r: r.read_output.remote(slot_key, run.ref.generation, 0))
    assert read["chunks"] == [] and not read["closed"]
    hook.results().release_run("live", "r1")


def long_line(chars: int) -> None:
    print("x" * chars + "END")


def test_a_long_line_arrives_whole_in_pieces(hook):
    chars = 3 * MAX_LINE_CHARS + 5
    run, lines = run_collecting(hook, "long", long_line, chars)
    assert run.report.ok
    assert all(len(line) <= MAX_LINE_CHARS for _, line in lines)
    assert "".join(line for _, line in lines) == "x" * chars + "END"
    hook.results().release_run("live", "r1")


def flood(chars: int, gate: str) -> None:
    from pathlib import Path

    from devstack.processes import wait_until

    print("first")
    chunk = "y" * 999
    for _ in range(chars // 1000):
        print(chunk)
    print("last")
    wait_until(Path(gate).exists, 120, "the gate", interval=0.05)


def test_output_nobody_reads_is_bounded_and_the_loss_is_said(hook, tmp_path):
    """The reader is held back until the callable printed far more than the buffer holds."""
    gate = tmp_path / "gate"
    results = hook.results()
    slot = results.new_result("live", "r1", "flood")
    report_ref = results.submit(
        slot,
        cloudpickle.dumps((flood, (3 * MAX_BUFFERED_CHARS, str(gate)), {})),
        options={"num_cpus": 1},
    )
    from devstack.processes import wait_until
    from ray_provider.client.live_log import LiveLog

    lines: list[str] = []
    live = LiveLog(lambda _stream, line: lines.append(line))

    def printed_everything() -> bool:
        cursor = 0
        while True:  # to the end of what the registry holds, one bounded read at a time
            read = results._call(
                lambda r, c=cursor: r.read_output.remote(slot.key, slot.generation, c)
            )
            if not read["more"]:
                return bool(read["chunks"]) and read["chunks"][-1][1].endswith("last\n")
            cursor = read["cursor"]

    wait_until(printed_everything, 180, "the flood to reach the registry", interval=2)
    gate.touch()
    results.ray_dashboard_path("unused")  # the registry answers while holding the output
    report = results.wait(report_ref)
    results.drain_output(slot.key, slot.generation, live)
    assert report.ok
    assert lines[0].startswith("[... ") and "characters of output dropped" in lines[0]
    assert "first" not in lines and lines[-1] == "last"
    assert sum(len(line) + 1 for line in lines[1:]) <= MAX_BUFFERED_CHARS + MAX_LINE_CHARS
    results.release_run("live", "r1")


def native_output() -> None:
    import os
    import subprocess
    import sys

    print("from python")
    sys.stdout.flush()
    subprocess.run(["sh", "-c", "echo from a subprocess; echo its error >&2"], check=True)
    os.write(1, b"from the file descriptor\n")
    print("after")


def test_output_written_past_python_reaches_the_log(hook):
    """A subprocess's and a raw ``os.write``'s output are in the worker's files, so shipped."""
    run, lines = run_collecting(hook, "native", native_output)
    assert run.report.ok and run.report.live_output
    stdout = [line for stream, line in lines if stream == "stdout"]
    assert stdout == ["from python", "from a subprocess", "from the file descriptor", "after"]
    assert ("stderr", "its error") in lines
    hook.results().release_run("live", "r1")
