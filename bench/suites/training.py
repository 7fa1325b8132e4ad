"""Training throughput: the pipeline's trainers vs plain xgboost ``hist`` on one machine.

The same synthetic HIGGS rows, split as the pipeline splits them, the same parameters
(``higgs.model.xgboost_params``: hist, depth 8, eta 0.1, logloss + error evaluated on train
and validation every round) and the same cores: plain ``xgboost.train`` on one DMatrix with
``nthread`` = the machine's cores, and the trainers of ``dags/higgs/model.py`` on the
benchmark's Ray head: ``xgboost`` (one Ray task holding every CPU of the node) and the
distributed ones with actors x CPUs per actor = the same cores. Each timing covers the whole
call (the frames into the object store, building the (Ray)DMatrix, starting actors, training,
the booster back); rows/s is training rows x rounds / seconds. Methods alternate within each
repeat.

    python -m bench training [--smoke] [--results-dir DIR] [--repeats 3] [--methods a,b]
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.baselines.plain_xgboost import train_plain
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
from bench.lib.higgs_modules import import_higgs
from bench.lib.plots import grouped_bars
from bench.lib.stack import add_platform_option, platform_for

NAME = "training"
CORES = os.cpu_count() or 2
# (rows, rounds, methods). Each distributed call pays a fixed cost on this 2-core machine
# (xgboost-ray about 30 s of actor start-up and set-up, Ray Train about 45 s) whatever the
# rounds, so the 1M + 4M matrix, 3 repeats, takes about 15 minutes alone: `make bench` runs
# the 1M-row plan (default), `--plan full` adds 4M rows (fewer rounds). See bench/README.md.
ALL_METHODS = ("plain", "xgboost", "xgboost_ray_1", "xgboost_ray_2", "ray_train")
PLANS = {
    "default": [(1_000_000, 20, ALL_METHODS)],
    "full": [(1_000_000, 20, ALL_METHODS), (4_000_000, 5, ALL_METHODS)],
    # Smoke: the cheap methods only (Ray Train alone costs most of a minute).
    "smoke": [(20_000, 5, ("plain", "xgboost", "xgboost_ray_2"))],
}
# The single-node trainer's whole call against plain xgboost's (issue #15). The distributed
# trainers have no goal on one machine: they are for what one node cannot hold, and the
# scale-out benchmark (bench/suites/training_scale_out.py) measures where that starts.
GOAL = 0.9
GOAL_METHOD = "xgboost"
LABELS = {
    "plain": f"plain xgboost (nthread={CORES})",
    "xgboost": f"trainer=xgboost: one Ray task x {CORES} CPUs",
    "xgboost_ray_1": f"xgboost-ray 1 actor x {CORES} CPUs",
    "xgboost_ray_2": f"xgboost-ray {CORES} actors x 1 CPU",
    "ray_train": f"Ray Train XGBoostTrainer {CORES} workers x 1 CPU",
}


class _XgboostRayPhases(logging.Handler):
    """xgboost-ray logs its phases; their times split a ``train`` call into where it went.

    "Created N new actors" ends the set-up (RayDMatrix, placement), "Starting XGBoost
    training" ends the actors' start and data loading, and the final message gives the pure
    XGBoost training time.
    """

    PURE = re.compile(r"in [0-9.]+ seconds \(([0-9.]+) pure XGBoost training time\)")

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.reset(time.time())

    def reset(self, started: float) -> None:
        self.started, self.created, self.starting = started, None, None
        self.pure: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "[RayXGBoost] Created" in message and self.created is None:
            self.created = record.created
        elif "[RayXGBoost] Starting XGBoost training" in message and self.starting is None:
            self.starting = record.created
        elif match := self.PURE.search(message):
            self.pure = float(match.group(1))

    def phases(self, ended: float) -> dict[str, float] | None:
        if None in (self.created, self.starting, self.pure):
            return None
        return {
            "setup": self.created - self.started,
            "actors_start_and_load": self.starting - self.created,
            "boosting": self.pure,
            "finish": ended - self.starting - self.pure,
        }


_PHASES: _XgboostRayPhases | None = None


def _phases() -> _XgboostRayPhases:
    """The one handler on Ray's logger that splits xgboost-ray's calls (installed once)."""
    global _PHASES
    if _PHASES is None:
        _PHASES = _XgboostRayPhases()
        ray_logger = logging.getLogger("ray")
        ray_logger.addHandler(_PHASES)
        ray_logger.setLevel(min(ray_logger.getEffectiveLevel(), logging.INFO))
    return _PHASES


def plain_trainer(nthread: int) -> Callable[[Any, Any, int], tuple[Any, dict | None]]:
    """Plain ``xgb.train`` with ``nthread`` threads in this process."""

    def train(train_frame, validation, rounds):
        booster, boosting = train_plain(train_frame, validation, rounds, nthread=nthread)
        return booster, {"boosting": boosting}

    return train


def single_node_trainer(train_frame, validation, rounds):
    """``trainer="xgboost"``: one Ray task holding the largest node's CPUs."""
    from higgs.model import TRAINERS

    timings: dict[str, float] = {}
    booster, _, _ = TRAINERS["xgboost"](train_frame, validation, rounds=rounds, timings=timings)
    return booster, timings


def distributed_trainer(name: str, actors: int, cpus: int):
    """The pipeline's ``name`` trainer with ``actors`` x ``cpus``; xgboost-ray's phases kept."""
    from higgs.model import TRAINERS

    phases = _phases()

    def train(train_frame, validation, rounds):
        phases.reset(time.time())
        booster, _, _ = TRAINERS[name](
            train_frame, validation, rounds=rounds, num_actors=actors, cpus_per_actor=cpus
        )
        return booster, phases.phases(time.time()) if name == "xgboost_ray" else None

    return train


def trainers() -> dict[str, Callable[[Any, Any, int], tuple[Any, dict | None]]]:
    """Each method as ``train(train, validation, rounds) -> (booster, phases)``.

    Phases split the call's seconds; ``boosting`` is the training alone, without building
    the data or starting actors: for plain xgboost and ``trainer="xgboost"`` the
    ``xgb.train`` call, for xgboost-ray the "pure XGBoost training time" it logs. Ray Train's
    are not known (``None``).
    """
    return {
        "plain": plain_trainer(CORES),
        "xgboost": single_node_trainer,
        "xgboost_ray_1": distributed_trainer("xgboost_ray", 1, CORES),
        "xgboost_ray_2": distributed_trainer("xgboost_ray", CORES, 1),
        "ray_train": distributed_trainer("ray_train", CORES, 1),
    }


WARMED_UP = ("plain", "plain_1", "xgboost")


def _stats(samples: list[dict[str, float]], key: str) -> dict[str, Any] | None:
    return summarize([s[key] for s in samples]) if samples else None


def measure(plan, repeats: int, methods: dict[str, Callable] | None = None) -> list[dict[str, Any]]:
    """Each (rows, rounds, names) of ``plan``, ``repeats`` times, the methods alternating.

    ``methods``: name -> ``train(train, validation, rounds) -> (booster, phases)``
    (default: ``trainers``).
    """
    higgs = import_higgs()
    methods = methods or trainers()
    results = []
    for rows, rounds, names in plan:
        frame = higgs.synthetic.synthetic_higgs(rows)
        train, validation, test = higgs.model.split(frame)
        samples: dict[str, list[float]] = {name: [] for name in names}
        split_up: dict[str, list[dict[str, float]]] = {name: [] for name in names}
        aucs: dict[str, float] = {}
        errors: dict[str, str] = {}
        # One untimed call at a tiny size for the methods whose process outlives a call (this
        # one, or the Ray worker the single-node task ran in), so the first timed call does
        # not pay for importing xgboost (3-4 s here). Actors start afresh on every call.
        small_train, small_validation, _ = higgs.model.split(train.iloc[:2_000])
        for name in (n for n in names if n in WARMED_UP):
            methods[name](small_train, small_validation, 1)
        for index in range(repeats):
            for name in (n for n in names if n not in errors):
                started = time.perf_counter()
                try:
                    booster, parts = methods[name](train, validation, rounds)
                except Exception as exc:  # reported in the results; the others go on
                    errors[name] = f"{type(exc).__name__}: {exc}"[:500]
                    print(f"{name} failed: {errors[name]}", flush=True)
                    continue
                samples[name].append(time.perf_counter() - started)
                if parts is not None:
                    split_up[name].append(parts)
                aucs[name] = higgs.model.evaluate(booster, test)["auc"]
                print(
                    f"{rows:>10,} rows x {rounds} rounds, {name:14s} run {index + 1}: "
                    f"{seconds(samples[name][-1])}, AUC {aucs[name]:.4f}",
                    flush=True,
                )
        work = len(train) * rounds
        measured = {
            name: {
                "seconds": summarize(samples[name]),
                "rows_per_s": summarize([work / s for s in samples[name]]),
                "training_only_s": _stats(split_up[name], "boosting"),
                "phases": {k: _stats(split_up[name], k)["median"] for k in split_up[name][0]}
                if split_up[name]
                else None,
                "auc": aucs[name],
                # Calls whose Ray task ran in a worker process started during the call.
                "new_worker_calls": sum(
                    1
                    for parts, took in zip(split_up[name], samples[name], strict=False)
                    if parts.get("worker_age_s", float("inf")) < took
                )
                if any("worker_age_s" in parts for parts in split_up[name])
                else None,
            }
            for name in names
            if name not in errors
        }
        results.append(
            {
                "rows": rows,
                "train_rows": len(train),
                "rounds": rounds,
                "methods": measured,
                "failed": errors,
            }
        )
    return results


def _ratio(entry: dict[str, Any], name: str, key: str) -> float | None:
    """``name``'s speed as a fraction of plain xgboost's, on seconds of ``key``."""
    mine, plain = entry["methods"][name].get(key), entry["methods"]["plain"].get(key)
    if not mine or not plain:
        return None
    return plain["median"] / mine["median"]


def goals(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each distributed method's speed as a fraction of plain xgboost's, per size.

    ``vs_plain`` compares whole calls (the goal); ``training_only_vs_plain`` compares the
    boosting itself, leaving out data loading and actor start-up.
    """
    checks = []
    for entry in results:
        if "plain" not in entry["methods"]:
            continue
        for name in (GOAL_METHOD, "xgboost_ray_1", "xgboost_ray_2", "ray_train"):
            if name in entry["methods"]:
                ratio = _ratio(entry, name, "seconds")
                checks.append(
                    {
                        "rows": entry["rows"],
                        "method": name,
                        "vs_plain": ratio,
                        "training_only_vs_plain": _ratio(entry, name, "training_only_s"),
                        "met": ratio >= GOAL if name == GOAL_METHOD else None,
                    }
                )
    return checks


def worker_lines(data: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """How many timed calls of a single-task method paid for starting a Ray worker process."""
    lines = []
    for entry in data["results"]:
        for name, r in entry["methods"].items():
            if r.get("new_worker_calls") is not None:
                lines.append(
                    f"* {entry['rows']:,} rows, {labels[name]}: Ray started a new worker "
                    f"process in {r['new_worker_calls']} of {len(r['seconds']['samples'])} "
                    "timed calls (the others reused an idle one)"
                )
    return ["", *lines] if lines else []


def markdown(data: dict[str, Any]) -> str:
    lines = [
        "# Training: the pipeline's trainers vs plain xgboost on one machine "
        f"({data['plan']} plan)",
        "",
        machine_line(data["machine"]),
        "Synthetic HIGGS split as the pipeline does (test = last tenth, validation = 10% of "
        f"the rest); median (min - max) of {data['repeats']} runs per method, methods "
        "alternating, after one untimed call at 2,000 rows of plain xgboost and "
        "`trainer=xgboost` (their process or worker then has xgboost imported). Whole call = "
        "(Ray)DMatrix, actors, boosting with evaluation every round; "
        "training only = the boosting (plain and `trainer=xgboost`: the `xgb.train` call; "
        "xgboost-ray: the pure training time it logs).",
        "",
        "| rows | rounds | method | whole call | rows/s (train rows x rounds / s) | vs plain | "
        "training only | vs plain | test AUC |",
        "| ---: | ---: | --- | --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for entry in data["results"]:
        for name, r in entry["methods"].items():
            whole = _ratio(entry, name, "seconds") if "plain" in entry["methods"] else None
            only = _ratio(entry, name, "training_only_s") if "plain" in entry["methods"] else None
            lines.append(
                f"| {entry['rows']:,} | {entry['rounds']} | {LABELS[name]} | "
                f"{spread(r['seconds'])} | {r['rows_per_s']['median']:,.0f} | "
                f"{f'{whole:.2f}x' if whole else 'n/a'} | {spread(r.get('training_only_s'))} | "
                f"{f'{only:.2f}x' if only else 'n/a'} | {r['auc']:.4f} |"
            )
        for name, error in entry.get("failed", {}).items():
            lines.append(
                f"| {entry['rows']:,} | {entry['rounds']} | {LABELS[name]} | failed: {error} "
                "| | | | | |"
            )
    phase_rows = [
        (entry, name, r["phases"])
        for entry in data["results"]
        for name, r in entry["methods"].items()
        if r.get("phases") and name.startswith("xgboost_ray")
    ]
    if phase_rows:
        lines += [
            "",
            "Where xgboost-ray's calls go (medians, seconds, from its own log messages):",
            "",
            "| rows | method | set-up (RayDMatrix, placement) | actors start + load data | "
            "boosting | finish |",
            "| ---: | --- | ---: | ---: | ---: | ---: |",
        ]
        for entry, name, p in phase_rows:
            lines.append(
                f"| {entry['rows']:,} | {LABELS[name]} | {p['setup']:.1f} | "
                f"{p['actors_start_and_load']:.1f} | {p['boosting']:.1f} | {p['finish']:.1f} |"
            )
    lines += worker_lines(data, LABELS)
    lines += [
        "",
        f'Goal: `trainer="xgboost"` at least {data["goal"]}x plain xgboost\'s rows/s '
        "(whole call: putting the frames in the object store, the task, the DMatrix, the "
        "boosting, the booster back):",
        "",
    ]
    for check in data["goals"]:
        if check["met"] is not None:
            only = check["training_only_vs_plain"]
            lines.append(
                f"* {check['rows']:,} rows, {LABELS[check['method']]}: "
                f"**{check['vs_plain']:.2f}x, {'met' if check['met'] else 'missed'}**"
                + (f" (training only: {only:.2f}x)" if only else "")
            )
    lines += ["", f"![training]({data['name']}.png)", ""]
    return "\n".join(lines)


def plot(
    data: dict[str, Any],
    path: Path,
    labels: dict[str, str] = LABELS,
    title: str = f"Training throughput on {CORES} cores (median, min-max)",
) -> Path:
    """Rows/s per method and size; the scale-out benchmark draws its own with its labels."""
    groups = [f"{e['rows']:,} rows x {e['rounds']} rounds" for e in data["results"]]
    names = list(dict.fromkeys(n for e in data["results"] for n in e["methods"]))
    series = {
        labels[name]: [e["methods"].get(name, {}).get("rows_per_s") for e in data["results"]]
        for name in names
    }
    return grouped_bars(
        path,
        title,
        groups,
        series,
        "rows/s (train rows x rounds / s)",
    )


def _options(parser) -> None:
    add_platform_option(parser)
    parser.add_argument("--plan", choices=["default", "full"], default="default")
    parser.add_argument("--name", default=NAME, help="results file name (e.g. training_full)")
    parser.add_argument(
        "--methods",
        default=None,
        help=f"comma-separated subset of {','.join(ALL_METHODS)} (default: the plan's)",
    )


def headlines(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The rows this benchmark adds to the combined report: (measure, goal, result)."""
    out = []
    for check in data["goals"]:
        judged = check.get("met") is not None
        goal = f">= {data['goal']}x" if judged else "-"
        verdict = f"{check['vs_plain']:.2f}x"
        if judged:
            verdict += f", {MET[check['met']]}"
        out.append((f"{LABELS[check['method']]} / plain, {check['rows']:,} rows", goal, verdict))
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, argv, _options)
    plan = PLANS["smoke" if args.smoke else args.plan]
    if args.methods:
        wanted = set(args.methods.split(","))
        plan = [
            (rows, rounds, tuple(n for n in names if n in wanted)) for rows, rounds, names in plan
        ]
    started, facts = time.monotonic(), machine_facts()
    with platform_for(args.platform) as platform:
        platform.connect_driver()
        try:
            results = measure(plan, args.repeats)
        finally:
            platform.disconnect_driver()
    data = {
        "machine": finish_facts(facts, started),
        "cores": CORES,
        "plan": "smoke" if args.smoke else args.plan,
        "name": args.name,
        "repeats": args.repeats,
        "results": results,
        "goal": GOAL,
        "goals": goals(results),
    }
    text = markdown(data)
    json_path, md_path = write_results(args.name, data, text, args.results_dir)
    plot(data, md_path.with_suffix(".png"))
    print(text)
    print(f"wrote {json_path}, {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
