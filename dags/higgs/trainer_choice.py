"""``trainer="auto"``: one node's plain XGBoost when the data fits a node, a distributed one if not.

Measured on 2 cores at 1M rows (bench/results/training.md): the single-node trainer runs at
plain XGBoost's speed, xgboost-ray at a fifth of it and Ray Train at an eighth, because the
distributed trainers start actors and shard the data before the first round. On two Ray nodes
of one CPU each (bench/results/training_scale_out.md) the distributed trainers had twice the
cores and still lost: xgboost-ray's rounds took 0.95 s against 0.49 s for one node's single
core. So asking for more CPUs than one node has (``num_actors`` x ``cpus_per_actor``) is not a
reason to shard; what is: the data does not fit the largest node's memory, several GPUs are
asked for (one task uses one), or no node is up yet. Every choice comes with the reason a
person reads in the task log; naming a trainer always wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from higgs.single_node import NodeShape, cluster_nodes

# The single-node trainer holds the frames (mapped from the object store, not counted here),
# XGBoost's DMatrix of them (float32, about the frames' size), the copy ``drop(columns=...)``
# makes, and its histograms and gradients: three times the frames' bytes is the budget asked
# of one node's task memory.
MEMORY_FACTOR = 3
SINGLE_NODE = "xgboost"
DISTRIBUTED = "xgboost_ray"  # the pipeline's distributed trainer since the 2021 DAG
CHOICES = ("auto", SINGLE_NODE, "xgboost_ray", "ray_train")


@dataclass(frozen=True)
class Choice:
    """The trainer that runs and why: ``reason`` is logged with it."""

    trainer: str
    reason: str


def frame_bytes(*frames: Any) -> int:
    """The in-memory size of pandas or modin frames (columns and index, not object contents)."""
    return sum(int(frame.memory_usage(index=True).sum()) for frame in frames)


def choose_trainer(
    requested: str,
    data_bytes: int,
    *,
    use_gpu: bool,
    num_actors: int,
    cpus_per_actor: int,
    gpus_per_actor: int = 1,
    nodes: list[NodeShape] | None = None,
) -> Choice:
    """Resolve ``requested`` (``auto`` or a trainer's name) for data of ``data_bytes`` bytes.

    ``nodes`` are the cluster's alive nodes (default: asked of the connected Ray cluster).
    """
    if requested not in CHOICES:
        raise ValueError(f"trainer={requested!r} is not one of {', '.join(CHOICES)}")
    if requested != "auto":
        return Choice(requested, f"trainer={requested!r} was asked for")
    nodes = cluster_nodes() if nodes is None else nodes
    size = _gib(data_bytes)
    if use_gpu:
        gpus_asked = num_actors * gpus_per_actor
        candidates = [node for node in nodes if node.gpus >= 1]
        if not candidates:
            return Choice(
                DISTRIBUTED,
                "use_gpu is on and no alive Ray node has a GPU yet: the distributed trainer's "
                "GPU actors let the autoscaler add GPU nodes",
            )
        if gpus_asked > 1:
            return Choice(
                DISTRIBUTED,
                f"{gpus_asked} GPUs asked for ({num_actors} actors x {gpus_per_actor}); "
                "the single-node trainer uses one (set num_actors=1 for it)",
            )
    else:
        candidates = [node for node in nodes if node.cpus >= 1]
        if not candidates:
            return Choice(
                DISTRIBUTED,
                "no alive Ray node has CPUs yet: the distributed trainer's actors let the "
                "autoscaler add worker nodes",
            )
        most_cpus = max(node.cpus for node in candidates)
        candidates = [node for node in candidates if node.cpus == most_cpus]
    needed = data_bytes * MEMORY_FACTOR
    roomiest = max(node.memory for node in candidates)
    if needed > roomiest:
        return Choice(
            DISTRIBUTED,
            f"the training data ({size}) needs about {_gib(needed)} on one node and the "
            f"largest such node offers {_gib(roomiest)} of task memory: sharding it over "
            "actors",
        )
    cpus = int(max(node.cpus for node in candidates))
    where = "one GPU" if use_gpu else (f"all {cpus} CPUs" if cpus > 1 else "the CPU") + " of a node"
    return Choice(
        SINGLE_NODE,
        f"the training data ({size}) fits one node ({_gib(roomiest)} of task memory), so plain "
        f"XGBoost on {where} skips the distributed trainers' actor start-up",
    )


def _gib(value: float) -> str:
    """Bytes as GiB, or MiB below one GiB (so a small frame does not read as 0.00 GiB)."""
    if value < 2**30:
        return f"{value / 2**20:.1f} MiB"
    return f"{value / 2**30:.2f} GiB"
