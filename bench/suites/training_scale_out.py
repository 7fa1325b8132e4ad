"""Scale-out: where the distributed trainers start to pay, on two Ray nodes of one core each.

The README's advice (one node's plain XGBoost while the data fits a node, xgboost-ray or Ray
Train beyond) rests on this measurement. The machine's 2 cores become a cluster of two Ray
nodes on 127.0.0.1, a head and a worker with 1 CPU each, so a distributed trainer can use
twice the cores the single-node trainer gets, as on a cluster of small nodes:

* ``plain_1``: plain ``xgb.train`` with ``nthread=1`` in this process (one node's core);
* ``xgboost``: ``trainer="xgboost"``, one Ray task holding one node's CPU;
* ``xgboost_ray_2`` / ``ray_train``: 2 actors (workers) x 1 CPU, one on each node.

Each call's seconds split into a fixed part (data, actors) and the boosting; with the
per-round cost that gives the number of rounds from which a distributed trainer is faster
than the single-node one (``break_even_rounds``), or ``None`` when its rounds are slower too.
It also records what ``trainer="auto"`` picks on this cluster for the pipeline's defaults.

    python -m bench training_scale_out [--smoke] [--results-dir DIR] [--repeats 3]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.lib.common import (
    finish_facts,
    machine_facts,
    machine_line,
    parse_args,
    spread,
    write_results,
)
from bench.lib.higgs_modules import import_higgs
from bench.suites.training import (
    distributed_trainer,
    measure,
    plain_trainer,
    single_node_trainer,
    worker_lines,
)
from bench.suites.training import plot as training_plot
from devstack.platform import LocalPlatform
from devstack.processes import wait_until

NAME = "training_scale_out"
NODES, CPUS_PER_NODE = 2, 1
METHODS = ("plain_1", "xgboost", "xgboost_ray_2", "ray_train")
PLANS = {"default": [(1_000_000, 20, METHODS)], "smoke": [(20_000, 5, METHODS[:3])]}
LABELS = {
    "plain_1": "plain xgboost (nthread=1: one node's core)",
    "xgboost": "trainer=xgboost: one Ray task x 1 CPU",
    "xgboost_ray_2": "xgboost-ray 2 actors x 1 CPU (one per node)",
    "ray_train": "Ray Train XGBoostTrainer 2 workers x 1 CPU (one per node)",
}
DISTRIBUTED = ("xgboost_ray_2", "ray_train")


def methods() -> dict[str, Any]:
    """Each method as ``train(train, validation, rounds) -> (booster, phases)``."""
    return {
        "plain_1": plain_trainer(1),
        "xgboost": single_node_trainer,
        "xgboost_ray_2": distributed_trainer("xgboost_ray", NODES, 1),
        "ray_train": distributed_trainer("ray_train", NODES, 1),
    }


def _fixed_and_per_round(result: dict[str, Any], rounds: int) -> tuple[float, float] | None:
    """(seconds outside the boosting, seconds per boosting round) of one method's medians."""
    whole, boosting = result["seconds"]["median"], (result.get("training_only_s") or {})
    if "median" not in boosting:
        return None
    return whole - boosting["median"], boosting["median"] / rounds


def break_even(entry: dict[str, Any]) -> dict[str, Any]:
    """For each distributed method: from how many rounds it beats ``trainer="xgboost"``.

    Each call is a fixed part (data, actors) plus rounds x a per-round cost, both measured;
    the rounds where the two lines cross are the break-even, ``None`` when the distributed
    rounds are not faster (it never wins), and not computed where a trainer does not report
    its boosting time apart (Ray Train).
    """
    rounds, single = entry["rounds"], entry["methods"].get("xgboost")
    out: dict[str, Any] = {}
    single_parts = single and _fixed_and_per_round(single, rounds)
    for name in DISTRIBUTED:
        mine = entry["methods"].get(name)
        if not mine or not single_parts:
            continue
        b: dict[str, Any] = {
            "faster_than_single_node": mine["seconds"]["median"] < single["seconds"]["median"],
            "single_node_fixed_s": single_parts[0],
            "single_node_s_per_round": single_parts[1],
        }
        parts = _fixed_and_per_round(mine, rounds)
        if parts:
            b.update(fixed_s=parts[0], s_per_round=parts[1])
            gain = single_parts[1] - parts[1]
            b["break_even_rounds"] = (parts[0] - single_parts[0]) / gain if gain > 0 else None
        out[name] = b
    return out


def auto_choice(higgs, train, validation) -> dict[str, str]:
    """What ``trainer="auto"`` picks on this cluster for the pipeline's default parameters."""
    from higgs.trainer_choice import choose_trainer, frame_bytes

    choice = choose_trainer(
        "auto",
        frame_bytes(train, validation),
        use_gpu=False,
        num_actors=NODES,
        cpus_per_actor=1,
    )
    return {"trainer": choice.trainer, "reason": choice.reason}


def run_cluster(plan, repeats: int, work_dir: Path) -> tuple[list[dict[str, Any]], list[dict]]:
    """Two one-CPU Ray nodes on 127.0.0.1 (token auth, keeper on); the plan measured on them."""
    platform = LocalPlatform(
        work_dir=work_dir, num_cpus=CPUS_PER_NODE, s3_enabled=False, dashboard=False
    )
    try:
        platform.start_ray()
        platform.head.add_worker_node({}, num_cpus=CPUS_PER_NODE)
        platform.connect_driver()
        higgs = import_higgs()
        from higgs.single_node import cluster_nodes

        wait_until(lambda: len(cluster_nodes()) == NODES, 120, f"{NODES} Ray nodes to be alive")
        nodes = [vars(node) for node in cluster_nodes()]
        results = measure(plan, repeats, methods())
        for entry in results:
            frame = higgs.synthetic.synthetic_higgs(entry["rows"])
            train, validation, _ = higgs.model.split(frame)
            entry["auto"] = auto_choice(higgs, train, validation)
            entry["break_even"] = break_even(entry)
        return results, nodes
    finally:
        platform.disconnect_driver()
        platform.stop()


def markdown(data: dict[str, Any]) -> str:
    lines = [
        "# Training scale-out: two Ray nodes of 1 CPU each, single-node vs distributed trainers",
        "",
        machine_line(data["machine"]),
        f"Cluster: {NODES} Ray nodes on 127.0.0.1 (head + worker), {CPUS_PER_NODE} CPU each; "
        "same synthetic HIGGS split and parameters as the training benchmark; median (min - "
        f"max) of {data['repeats']} runs per method, methods alternating, after one untimed "
        "call at 2,000 rows of the plain and single-node methods.",
        "",
        "| rows | rounds | method | whole call | rows/s | vs one node's trainer | "
        "training only | test AUC |",
        "| ---: | ---: | --- | --- | ---: | ---: | --- | ---: |",
    ]
    for entry in data["results"]:
        single = entry["methods"].get("xgboost")
        for name, r in entry["methods"].items():
            ratio = (
                f"{single['seconds']['median'] / r['seconds']['median']:.2f}x" if single else "n/a"
            )
            lines.append(
                f"| {entry['rows']:,} | {entry['rounds']} | {LABELS[name]} | "
                f"{spread(r['seconds'])} | {r['rows_per_s']['median']:,.0f} | {ratio} | "
                f"{spread(r.get('training_only_s'))} | {r['auc']:.4f} |"
            )
        for name, error in entry.get("failed", {}).items():
            lines.append(
                f"| {entry['rows']:,} | {entry['rounds']} | {LABELS[name]} | failed: {error} "
                "| | | | |"
            )
    lines += worker_lines(data, LABELS)
    lines += ["", "Where the distributed trainers would start to win:", ""]
    for entry in data["results"]:
        for name, b in entry["break_even"].items():
            verdict = "faster" if b["faster_than_single_node"] else "slower"
            line = (
                f"* {entry['rows']:,} rows x {entry['rounds']} rounds, {LABELS[name]}: "
                f"{verdict} than one node's trainer"
            )
            if "s_per_round" in b:
                line += (
                    f"; {b['fixed_s']:.1f} s fixed + {b['s_per_round']:.2f} s a round against "
                    f"{b['single_node_fixed_s']:.1f} s + {b['single_node_s_per_round']:.2f} s a "
                    "round on one node: "
                    + (
                        f"**break-even at about {b['break_even_rounds']:.0f} rounds**"
                        if b["break_even_rounds"] is not None
                        else "**its rounds are slower too, so it never catches up here**"
                    )
                )
            lines.append(line)
        lines.append(
            f'* `trainer="auto"` with the pipeline\'s defaults ({NODES} actors x 1 CPU) picks '
            f"**{entry['auto']['trainer']}**: {entry['auto']['reason']}"
        )
    lines += ["", f"![scale-out]({NAME}.png)", ""]
    return "\n".join(lines)


def plot(data: dict[str, Any], path: Path) -> Path:
    title = f"Training on {NODES} Ray nodes x {CPUS_PER_NODE} CPU (median, min-max)"
    return training_plot(data, path, LABELS, title)


def headlines(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The rows this benchmark adds to the combined report: (measure, goal, result)."""
    out = []
    for entry in data["results"]:
        single = entry["methods"].get("xgboost")
        for name in DISTRIBUTED:
            mine = entry["methods"].get(name)
            if single and mine:
                ratio = single["seconds"]["median"] / mine["seconds"]["median"]
                out.append(
                    (
                        f"{LABELS[name]} / one node's trainer, {entry['rows']:,} rows",
                        "-",
                        f"{ratio:.2f}x",
                    )
                )
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, argv)
    plan = PLANS["smoke" if args.smoke else "default"]
    started, facts = time.monotonic(), machine_facts()
    work_dir = Path(tempfile.mkdtemp(prefix="bench-scale-out-"))
    try:
        results, nodes = run_cluster(plan, args.repeats, work_dir)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    data = {
        "machine": finish_facts(facts, started),
        "nodes": nodes,
        "plan": "smoke" if args.smoke else "default",
        "repeats": args.repeats,
        "results": results,
    }
    text = markdown(data)
    json_path, md_path = write_results(NAME, data, text, args.results_dir)
    plot(data, md_path.with_suffix(".png"))
    print(text)
    print(f"wrote {json_path}, {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
