"""Live task output: does a chatty ``@task.ray`` callable slow down, and does every line arrive?

One callable prints N lines of 80 characters, in three ways, each run through the same
``RayResults.run(..., on_output=...)`` path that ``@task.ray`` takes (the wait reads output
about every second), on the benchmark's Ray head:

* **print to memory** (context): the callable redirects its own ``sys.stdout`` to an
  ``io.StringIO``, so the provider's shipper sees nothing: what the prints themselves cost.
* **worker stream** (the baseline): redirected to a stream made the way Ray makes a worker's
  ``sys.stdout`` (``ray._private.utils.open_log``: Ray's unbuffered wrapper, a flush per
  write, over a log file in the same directory), which the provider does not follow: what a
  plain Ray task's ``print`` costs with no provider in the way.
* **live**: plain ``print`` to the worker's own stream, which the provider's ``OutputShipper``
  follows (it reads the log file back from a background thread, ``runtime.output_tail``) and
  sends to ``on_output`` on this side, which collects every line and the time the last one
  came.

Per sample: the callable's own time (the report's ``seconds``: from the payload's unpickling to
the returned value, before the shipper's close), the print loop alone (timed inside the
callable), the whole ``run()`` call, and the drain: from the callable's end (its
``time.time()`` just before it returns) to the last line arriving at ``on_output``, both read
on this machine's clock (the head is local, on 127.0.0.1). The goal is the ratio of the
baseline's (worker stream's) callable time to the live one's, paired within a repeat: what
the provider adds to what printing in any Ray task costs; the modes rotate their
order from one repeat to the next. Then one run of a few 1 MB lines checks that long lines
arrive whole (in pieces of at most ``MAX_LINE_CHARS``, never cut elsewhere).

Every line must arrive, in order, and nothing else: a lost, reordered or extra line (or the
provider's "output dropped" marker) fails the benchmark after it has written its results.

    python -m bench live_output [--smoke] [--results-dir DIR] [--repeats 3] [--lines N]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from bench.lib.common import (
    MET,
    finish_facts,
    machine_facts,
    machine_line,
    parse_args,
    seconds,
    spread,
    summarize,
    write_results,
)
from bench.lib.plots import grouped_bars
from bench.lib.stack import add_platform_option, platform_for

NAME = "live_output"
DAG_ID = "bench_live_output"
WIDTH = 80  # characters per line, without the newline
MODES = ("memory", "worker_stream", "live")
BASELINE, LIVE = "worker_stream", "live"
LABELS = {
    "memory": "print to memory (context)",
    "worker_stream": "worker's own stream (baseline: no provider)",
    "live": "live (worker's stream, followed by the provider)",
}
SHORT = {"memory": "to memory", "worker_stream": "worker's stream (baseline)", "live": "live"}
# lines: the chatty callable's; long: (lines, characters each) of the long-line run; warm_up:
# lines of the untimed first run of each mode (starts the worker, unpickles the module).
PLANS: dict[str, dict[str, Any]] = {
    # 16 MB of output, as much as the registry's buffer (MAX_BUFFERED_CHARS) holds, printed
    # faster than the log takes it: the reader must keep up.
    # 3 x 1 MB stays under that buffer, so the long-line run checks the splitting, not the bound.
    "default": {"lines": 200_000, "long": (3, 1_000_000), "warm_up": 1_000},
    "smoke": {"lines": 300, "long": (2, 200_000), "warm_up": 50},
}
# Baseline/live, the callable's own time. A loop that does nothing but print is the worst case:
# at 0.8 its prints cost at most a quarter more than a plain Ray task's prints to the worker's
# log file, so a callable that spends a tenth of its time printing slows by under 2.5%, which
# is "does not slow down" for any real task.
GOAL = 0.8


class LiveOutputError(AssertionError):
    """Lines were lost, reordered, cut or added on their way to ``on_output``."""


# --- what runs on the Ray worker (pickled by value: the worker needs no checkout) ----------


def line_text(index: int) -> str:
    """The ``index``-th line: its number first, so a missing or misplaced line names itself."""
    head = f"line {index:09d} "
    return head + "." * (WIDTH - len(head))


def long_line_text(index: int, chars: int) -> str:
    """A line of exactly ``chars`` characters with its number at both ends."""
    head, tail = f"<{index}>", f"</{index}>"
    return head + "abcdefghij"[index % 10] * (chars - len(head) - len(tail)) + tail


def chatty(lines: int, mode: str) -> dict[str, float]:
    """Print ``lines`` lines to ``mode``'s stream; the loop's time and when it ended."""
    import contextlib
    import io
    import os
    import sys
    import time

    def ray_like_log() -> Any:
        # A stream as Ray opens a worker's stdout, on a file beside the worker's own logs
        # (the same file system), that the provider does not follow.
        from ray._private.utils import open_log

        directory = os.path.dirname(os.path.realpath(f"/proc/self/fd/{sys.stdout.fileno()}"))
        return open_log(os.path.join(directory, f"bench-baseline-{os.getpid()}.out"), True)

    sinks = {"memory": io.StringIO, "worker_stream": ray_like_log}
    sink = sinks[mode]() if mode in sinks else None
    redirect = contextlib.redirect_stdout(sink) if sink is not None else contextlib.nullcontext()
    with redirect:
        started = time.perf_counter()
        for index in range(lines):
            print(line_text(index))
        loop = time.perf_counter() - started
    if mode == "worker_stream":
        sink.stream.close()
        os.unlink(sink.stream.name)
    return {"loop_seconds": loop, "ended_at": time.time()}


def print_long(lines: int, chars: int) -> dict[str, float]:
    """Print ``lines`` lines of ``chars`` characters each; when it ended."""
    import time

    for index in range(lines):
        print(long_line_text(index, chars))
    return {"loop_seconds": 0.0, "ended_at": time.time()}


# --- checking what arrived ------------------------------------------------------------------


def check_lines(arrived: list[tuple[str, str]], expected: list[str]) -> dict[str, Any]:
    """Compare the ``(stream, line)`` pairs ``on_output`` got with the lines printed.

    Returns counts, the last line and ``problem`` (None when every line came, in order, on
    stdout, and nothing else did), naming the first difference.
    """
    got = [line for stream, line in arrived if stream == "stdout"]
    other = [line for stream, line in arrived if stream != "stdout"]
    problem = None
    if other:
        problem = f"{len(other)} line(s) on stderr, the first: {other[0][:200]!r}"
    elif got != expected:
        first = next(
            (i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
            min(len(got), len(expected)),
        )
        problem = (
            f"{len(got):,} lines arrived, {len(expected):,} printed; the first difference is "
            f"at line {first:,}: got {got[first][:100] if first < len(got) else None!r}, "
            f"expected {expected[first][:100] if first < len(expected) else None!r}"
        )
    return {
        "expected": len(expected),
        "arrived": len(got),
        "other_streams": len(other),
        "last": got[-1][:100] if got else None,
        "problem": problem,
    }


def check_long_lines(arrived: list[tuple[str, str]], expected: list[str]) -> dict[str, Any]:
    """Long lines come in pieces of at most ``MAX_LINE_CHARS``: each must rebuild one line.

    A piece that would cross into the next line, a short or long line, or a piece longer than
    the limit is a problem (the first one is named).
    """
    from ray_provider.client.live_log import MAX_LINE_CHARS

    problem = None
    if any(stream != "stdout" for stream, _ in arrived):
        problem = "output arrived on stderr (the provider's 'output dropped' marker?)"
    pieces = [line for _, line in arrived]
    longest = max((len(piece) for piece in pieces), default=0)
    if problem is None and longest > MAX_LINE_CHARS:
        problem = f"a piece of {longest:,} characters, over MAX_LINE_CHARS ({MAX_LINE_CHARS:,})"
    position = 0
    for number, line in enumerate(expected):
        if problem is not None:
            break
        built = []
        while position < len(pieces) and sum(map(len, built)) < len(line):
            built.append(pieces[position])
            position += 1
        if "".join(built) != line:
            problem = (
                f"line {number} ({len(line):,} characters) came back as {len(built)} pieces "
                f"of {sum(map(len, built)):,} characters that differ from it"
            )
    if problem is None and position != len(pieces):
        problem = f"{len(pieces) - position} piece(s) after the last line"
    return {
        "lines": len(expected),
        "chars_each": len(expected[0]) if expected else 0,
        "pieces": len(pieces),
        "longest_piece": longest,
        "problem": problem,
    }


# --- measuring ------------------------------------------------------------------------------


def _pickle_this_module_by_value() -> None:
    """The callables travel with their code: the Ray workers do not import ``bench``."""
    from ray import cloudpickle

    module = sys.modules[__name__]
    if __name__ != "__main__":  # cloudpickle already sends ``__main__``'s functions by value
        cloudpickle.register_pickle_by_value(module)


def run_once(results: Any, task_id: str, function: Any, *args: Any) -> dict[str, Any]:
    """One ``RayResults.run`` of ``function(*args)``, collecting its output; its timings."""
    from ray import cloudpickle

    arrived: list[tuple[str, str]] = []
    last_at: list[float] = []

    def collect(stream: str, line: str) -> None:
        arrived.append((stream, line))
        last_at[:] = [time.time()]

    run_id = f"{task_id}_{time.time_ns()}"
    slot = results.new_result(DAG_ID, run_id, task_id)
    started = time.perf_counter()
    run = results.run(
        slot,
        cloudpickle.dumps((function, args, {})),
        options={"num_cpus": 1},
        on_output=collect,
    )
    total = time.perf_counter() - started
    returned_at = time.time()
    report = run.report
    try:
        if not report.ok:
            raise LiveOutputError(
                f"{task_id}: the callable failed on Ray: {report.error_type}: "
                f"{report.error_message}\n{report.traceback}"
            )
        if not report.live_output:
            why = report.live_output_error or "no shipper"
            raise LiveOutputError(
                f"{task_id}: the output did not go the live way ({why}); the report carried "
                "it instead"
            )
        value = results.materialize(results.reference(run.ref))
    finally:
        results.release_run(DAG_ID, run_id)
    return {
        "arrived": arrived,
        "seconds": report.seconds,
        "loop_seconds": value["loop_seconds"],
        "total_seconds": total,
        "drain_seconds": last_at[0] - value["ended_at"] if last_at else None,
        "returned_after_seconds": returned_at - value["ended_at"],
    }


def measure(results: Any, plan: dict[str, Any], repeats: int) -> dict[str, Any]:
    """Every mode ``repeats`` times (order rotating), then the long-line run."""
    lines = plan["lines"]
    expected = [line_text(index) for index in range(lines)]
    for mode in MODES:  # untimed: a worker for the task, the module unpickled once
        run_once(results, f"warm_up_{mode}", chatty, plan["warm_up"], mode)
    samples: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    checks: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    for repeat in range(repeats):
        order = MODES[repeat % len(MODES) :] + MODES[: repeat % len(MODES)]
        for mode in order:
            sample = run_once(results, f"{mode}_{repeat}", chatty, lines, mode)
            arrived = sample.pop("arrived")
            check = check_lines(arrived, expected if mode == LIVE else [])
            checks[mode].append(check)
            samples[mode].append(sample)
            print(
                f"{mode:>13} #{repeat}: callable {seconds(sample['seconds'])}, run() "
                f"{seconds(sample['total_seconds'])}, drain {seconds(sample['drain_seconds'])}"
                f", {check['arrived']:,} lines"
                + (f": {check['problem']}" if check["problem"] else ""),
                flush=True,
            )
    count, chars = plan["long"]
    long_expected = [long_line_text(index, chars) for index in range(count)]
    long_sample = run_once(results, "long_lines", print_long, count, chars)
    long_check = check_long_lines(long_sample.pop("arrived"), long_expected)
    print(f"long lines: {long_check}", flush=True)
    return {"samples": samples, "checks": checks, "long": {**long_sample, **long_check}}


def _paired_ratios(base: list[dict[str, Any]], live: list[dict[str, Any]]) -> list[float]:
    """``base`` / ``live`` callable times of the runs made in the same repeat."""
    return [b["seconds"] / x["seconds"] for b, x in zip(base, live, strict=True)]


def summarize_runs(raw: dict[str, Any]) -> dict[str, Any]:
    """Medians with spread per mode, the paired ratios and the verdicts."""
    modes = {}
    for mode, samples in raw["samples"].items():
        stats = {}
        for key in (
            "seconds",
            "loop_seconds",
            "total_seconds",
            "drain_seconds",
            "returned_after_seconds",
        ):
            values = [s[key] for s in samples if s[key] is not None]
            stats[key] = summarize(values) if values else None
        modes[mode] = stats
    ratios = _paired_ratios(raw["samples"][BASELINE], raw["samples"][LIVE])
    # Context, not judged: against prints that go nowhere but memory.
    provider_ratios = _paired_ratios(raw["samples"]["memory"], raw["samples"][LIVE])
    problems = [
        f"{mode} #{repeat}: {check['problem']}"
        for mode, mode_checks in raw["checks"].items()
        for repeat, check in enumerate(mode_checks)
        if check["problem"]
    ]
    if raw["long"]["problem"]:
        problems.append(f"long lines: {raw['long']['problem']}")
    ratio = summarize(ratios)
    return {
        "modes": modes,
        "ratio": ratio,
        "provider_ratio": summarize(provider_ratios),
        "goal_met": ratio["median"] >= GOAL,
        "complete": not problems,
        "problems": problems,
    }


# --- reporting ------------------------------------------------------------------------------


def markdown(data: dict[str, Any]) -> str:
    modes, ratio, provider = data["modes"], data["ratio"], data["provider_ratio"]
    checks = data["raw"]["checks"]
    long = data["raw"]["long"]

    def row(title: str, key: str) -> str:
        return f"| {title} | " + " | ".join(spread(modes[m][key]) for m in MODES) + " |"

    def arrived(mode: str) -> str:
        last = checks[mode][-1]
        bad = sum(1 for check in checks[mode] if check["problem"])
        if bad:
            counts = sorted(check["arrived"] for check in checks[mode])
            got = f"{counts[0]:,}" + (f" - {counts[-1]:,}" if counts[-1] != counts[0] else "")
            return f"{got} of {last['expected']:,}, **{bad} run(s) wrong**"
        if not last["expected"]:
            return "none (none expected)"
        return f"{last['arrived']:,} of {last['expected']:,} in every run, in order"

    def per_line(mode: str) -> str:
        return f"{modes[mode]['loop_seconds']['median'] / data['lines'] * 1e6:.2f} us"

    lines = [
        "# Live task output: a chatty callable",
        "",
        f"One `@task.ray`-style callable prints {data['lines']:,} lines of {WIDTH} characters "
        f"({data['lines'] * (WIDTH + 1):,} characters with the newlines) through "
        "`RayResults.run(..., on_output=...)`; medians of "
        f"{data['repeats']} runs per mode (min - max), modes rotating their order per repeat.",
        "",
        "| | " + " | ".join(LABELS[m] for m in MODES) + " |",
        "| --- | " + " | ".join("---" for _ in MODES) + " |",
        row("callable's own time (report `seconds`)", "seconds"),
        row("print loop alone (timed in the callable)", "loop_seconds"),
        row("whole `run()` call", "total_seconds"),
        "| print loop per line (median) | " + " | ".join(per_line(m) for m in MODES) + " |",
        row("drain: callable's end to the last line at `on_output`", "drain_seconds"),
        row("`run()` returned, after the callable's end", "returned_after_seconds"),
        "| lines at `on_output` | " + " | ".join(arrived(m) for m in MODES) + " |",
        "",
        f"**Baseline / live, callable's own time: {ratio['median']:.2f}x** "
        f"({ratio['min']:.2f} - {ratio['max']:.2f}, paired per repeat); goal >= {GOAL}x: "
        f"{MET[data['goal_met']]}. 1.0 means printing live costs nothing over a plain Ray "
        f"task's print to its worker's log file. To memory / live (prints that go nowhere, "
        f"not judged): {provider['median']:.2f}x ({provider['min']:.2f} - "
        f"{provider['max']:.2f}).",
        "",
        f"Long lines: {long['lines']} lines of {long['chars_each']:,} characters arrived as "
        f"{long['pieces']} pieces of at most {long['longest_piece']:,} characters: "
        + ("each rebuilds its line whole" if not long["problem"] else f"**{long['problem']}**")
        + f"; `run()` {seconds(long['total_seconds'])}, drain {seconds(long['drain_seconds'])}.",
        "",
    ]
    if data["problems"]:
        lines += ["**Output was lost or changed:**", ""]
        lines += [f"* {problem}" for problem in data["problems"]] + [""]
    lines += [
        "The drain and the callable's end are both read with `time.time()` on this machine "
        "(local head). The callable's time stops before the provider's closing send; the "
        "whole call includes submitting, that send, the last reads and recording the result.",
        "",
        machine_line(data["machine"]),
        "",
    ]
    return "\n".join(lines)


def plot(data: dict[str, Any], path: Path) -> Path:
    """Per mode: the callable's time, the whole call and the drain (medians, min-max bars)."""
    modes = data["modes"]
    series = {
        "callable's own time": [modes[m]["seconds"] for m in MODES],
        "whole run() call": [modes[m]["total_seconds"] for m in MODES],
        "drain (to the last line)": [modes[m]["drain_seconds"] for m in MODES],
    }
    ratio = data["ratio"]["median"]
    title = f"{data['lines']:,} lines of {WIDTH} characters (baseline/live {ratio:.2f}x)"
    return grouped_bars(path, title, [SHORT[m] for m in MODES], series, "seconds")


def headlines(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The rows this benchmark adds to the combined report: (measure, goal, result)."""
    ratio, live = data["ratio"], data["modes"][LIVE]
    long = data["raw"]["long"]
    problems = data["problems"]
    complete = "yes" if not problems else f"**no**, {len(problems)} run(s): {problems[0][:160]}"
    return [
        (
            f"worker's own stream (a plain Ray task's print) / live, callable's own time, "
            f"{data['lines']:,} lines",
            f">= {GOAL}x",
            f"{ratio['median']:.2f}x ({ratio['min']:.2f} - {ratio['max']:.2f}), "
            f"{MET[data['goal_met']]}",
        ),
        (
            f"every line at on_output, in order; {long['lines']} x {long['chars_each']:,}-char "
            "lines whole",
            "all",
            complete,
        ),
        (
            f"print to memory / live (context), callable's own time, {data['lines']:,} lines",
            "-",
            f"{data['provider_ratio']['median']:.2f}x",
        ),
        ("drain: callable's end to the last line", "-", spread(live["drain_seconds"])),
    ]


def _options(parser) -> None:
    add_platform_option(parser)
    parser.add_argument("--lines", type=int, default=None, help="lines printed (default: plan)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, argv, _options)
    plan = dict(PLANS["smoke" if args.smoke else "default"])
    if args.lines:
        plan["lines"] = args.lines
    started, facts = time.monotonic(), machine_facts()
    _pickle_this_module_by_value()
    with platform_for(args.platform) as platform:
        platform.connect_driver()
        try:
            from ray_provider.hooks.ray import RayHook

            raw = measure(RayHook().results(), plan, args.repeats)
        finally:
            platform.disconnect_driver()
    data = {
        "machine": finish_facts(facts, started),
        "plan": "smoke" if args.smoke else "default",
        "lines": plan["lines"],
        "width": WIDTH,
        "repeats": args.repeats,
        "goal": GOAL,
        **summarize_runs(raw),
        "raw": raw,
    }
    text = markdown(data)
    json_path, md_path = write_results(NAME, data, text, args.results_dir)
    plot(data, md_path.with_suffix(".png"))
    print(text)
    print(f"wrote {json_path}, {md_path}")
    if not data["complete"]:
        print(
            "FAILED: output was lost or changed on its way to on_output:\n  "
            + "\n  ".join(data["problems"]),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
