"""Plain XGBoost in one Ray task that holds a whole node: the trainer for data that fits one.

The distributed trainers pay for their generality before the first round: xgboost-ray starts
actors and loads each one's shard (about 15 s of a 34 s call at 1M rows on 2 cores), Ray Train
adds its controller on top. When the training data fits one node, none of that buys anything:
one task that reserves the node's CPUs (or one GPU) and calls ``xgb.train`` on its own
DMatrix trains at plain XGBoost's speed. The frames reach the task as Ray arguments, so a frame
already in the object store (a pandas frame from an upstream ``@task.ray``, or a modin frame's
partitions) is mapped into the task's memory without a copy; the only copy is XGBoost's own
DMatrix, as in a plain script.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from higgs.frames import to_pandas
from higgs.params import xgboost_params
from higgs.schema import LABEL


@dataclass(frozen=True)
class NodeShape:
    """What one alive Ray node offers to tasks: its logical CPUs, GPUs and memory (bytes)."""

    cpus: float
    gpus: float
    memory: float


def cluster_nodes() -> list[NodeShape]:
    """The alive nodes of the Ray cluster this process is connected to, as Ray schedules them."""
    import ray

    shapes = []
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        resources = node.get("Resources", {})
        shapes.append(
            NodeShape(
                cpus=float(resources.get("CPU", 0)),
                gpus=float(resources.get("GPU", 0)),
                memory=float(resources.get("memory", 0)),
            )
        )
    return shapes


def task_resources(nodes: list[NodeShape], use_gpu: bool) -> dict[str, float]:
    """The Ray resources of the training task: one GPU, or every CPU of the largest node.

    A whole node's CPUs, not the CPUs the parameters ask the actors for: XGBoost's histogram
    building scales with threads, and nothing else can use the node while it trains anyway.
    """
    if use_gpu:
        return {"num_cpus": 1, "num_gpus": 1}
    cpus = max((node.cpus for node in nodes), default=0)
    if cpus < 1:
        raise RuntimeError(
            "trainer='xgboost' needs a Ray node with CPUs, and none is up: start a worker "
            "node, or choose trainer='xgboost_ray', whose actors the autoscaler can add nodes for"
        )
    return {"num_cpus": int(cpus)}


def train_xgboost(
    train: Any,
    validation: Any,
    *,
    rounds: int,
    num_actors: int = 1,
    cpus_per_actor: int = 1,
    use_gpu: bool = False,
    gpus_per_actor: int = 1,
    resources: dict[str, float] | None = None,
    timings: dict[str, float] | None = None,
):
    """Plain ``xgb.train`` in one Ray task; returns (booster, per-round metrics, seconds).

    Same contract as the distributed trainers of ``higgs.model`` (``num_actors``,
    ``cpus_per_actor`` and ``gpus_per_actor`` are accepted and not used: one task trains).
    ``resources`` overrides the task's Ray resources (default: ``task_resources``);
    ``timings``, when given, receives ``boosting`` (the seconds of ``xgb.train`` alone) and
    ``worker_age_s`` (how long the task's worker process had existed when the task began: a
    fraction of a second means Ray started a new one for it).
    """
    import ray

    started = time.monotonic()
    resources = resources or task_resources(cluster_nodes(), use_gpu)
    threads = int(resources.get("num_cpus", 1))
    fit = ray.remote(**resources, max_retries=0)(_fit)
    booster, history, measured = ray.get(
        fit.remote(train, validation, xgboost_params(use_gpu), rounds, threads)
    )
    if timings is not None:
        timings.update(measured)
    return booster, history, time.monotonic() - started


def _fit(train: Any, validation: Any, params: dict[str, Any], rounds: int, threads: int):
    """The Ray task: DMatrix from the frames Ray mapped in, then ``xgb.train``.

    Returns (booster, per-round metrics, timings: ``boosting`` and ``worker_age_s``).
    """
    import psutil
    import xgboost as xgb

    worker_age = time.time() - psutil.Process().create_time()

    def matrix(frame: Any) -> xgb.DMatrix:
        frame = to_pandas(frame)
        return xgb.DMatrix(frame.drop(columns=[LABEL]), label=frame[LABEL], nthread=threads)

    dtrain, dvalidation = matrix(train), matrix(validation)
    history: dict[str, Any] = {}
    started = time.perf_counter()
    booster = xgb.train(
        {**params, "nthread": threads},
        dtrain,
        num_boost_round=rounds,
        evals=[(dtrain, "train"), (dvalidation, "validation")],
        evals_result=history,
        verbose_eval=max(1, rounds // 10),
    )
    return booster, history, {"boosting": time.perf_counter() - started, "worker_age_s": worker_age}
