"""Split, train (one node's XGBoost, xgboost-ray or Ray Train) and evaluate, as plain functions."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pandas as pd

from higgs.frames import to_pandas
from higgs.params import xgboost_params
from higgs.schema import LABEL, STANDARD_TEST_ROWS
from higgs.single_node import train_xgboost


def split(frame, validation_fraction: float = 0.1):
    """(train, validation, test): the last rows are the test set, as in the standard split.

    Works on pandas and modin frames alike (positional slicing only).

    The test set is the last 500,000 rows of the full data; a prefix of the data (``rows``)
    keeps the last tenth instead, capped at 500,000, so small runs still have a test set.
    """
    if len(frame) < 20:
        raise ValueError(f"{len(frame)} rows are too few to split into train/validation/test")
    test_rows = min(STANDARD_TEST_ROWS, max(1, len(frame) // 10))
    rest, test = frame.iloc[:-test_rows], frame.iloc[-test_rows:]
    validation_rows = max(1, int(len(rest) * validation_fraction))
    train, validation = rest.iloc[:-validation_rows], rest.iloc[-validation_rows:]
    return train, validation, test


def train_xgboost_ray(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    *,
    rounds: int,
    num_actors: int,
    cpus_per_actor: int,
    use_gpu: bool = False,
    gpus_per_actor: int = 1,
):
    """Distributed training with xgboost-ray; returns (booster, per-round metrics, seconds)."""
    from xgboost_ray import RayDMatrix, RayParams
    from xgboost_ray import train as ray_train

    started = time.monotonic()
    dtrain = RayDMatrix(to_pandas(train), label=LABEL)
    dvalidation = RayDMatrix(to_pandas(validation), label=LABEL)
    history: dict[str, Any] = {}
    booster = ray_train(
        xgboost_params(use_gpu),
        dtrain,
        num_boost_round=rounds,
        evals=[(dtrain, "train"), (dvalidation, "validation")],
        evals_result=history,
        verbose_eval=max(1, rounds // 10),
        ray_params=RayParams(
            num_actors=num_actors,
            cpus_per_actor=cpus_per_actor,
            gpus_per_actor=gpus_per_actor if use_gpu else 0,
            max_actor_restarts=1,
        ),
    )
    return booster, history, time.monotonic() - started


def train_ray_train(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    *,
    rounds: int,
    num_actors: int,
    cpus_per_actor: int,
    use_gpu: bool = False,
    gpus_per_actor: int = 1,
    storage_path: str | None = None,
):
    """Distributed training with Ray Train's ``XGBoostTrainer``; same contract as xgboost-ray.

    xgboost-ray's last release (0.1.19) pins the project to xgboost 2.0.x; Ray Train is its
    maintained successor. The frames are already in the object store, so each worker takes its
    rows from one shared reference (rank::world_size) instead of going through Ray Data, which
    would need spare CPUs beside the training workers. Ray Train persists the final booster as
    a checkpoint under ``storage_path`` (``HIGGS_RAY_TRAIN_STORAGE``, default a temporary
    directory): on a multi-node cluster point it at shared storage.
    """
    import shutil
    import tempfile

    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.xgboost import RayTrainReportCallback, XGBoostTrainer

    started = time.monotonic()
    owned_storage = None
    storage_path = storage_path or os.environ.get("HIGGS_RAY_TRAIN_STORAGE")
    if not storage_path:
        storage_path = owned_storage = tempfile.mkdtemp(prefix="higgs-ray-train-")
    config = {
        "params": xgboost_params(use_gpu),
        "rounds": rounds,
        "train": ray.put(to_pandas(train)),
        "validation": ray.put(to_pandas(validation)),
    }
    resources = {"CPU": cpus_per_actor, **({"GPU": gpus_per_actor} if use_gpu else {})}
    trainer = XGBoostTrainer(
        _ray_train_worker,
        train_loop_config=config,
        scaling_config=ScalingConfig(
            num_workers=num_actors, use_gpu=use_gpu, resources_per_worker=resources
        ),
        run_config=RunConfig(storage_path=storage_path, name=f"higgs-{os.getpid()}"),
    )
    try:
        result = trainer.fit()
        booster = RayTrainReportCallback.get_model(result.checkpoint)
    finally:
        if owned_storage:
            shutil.rmtree(owned_storage, ignore_errors=True)
    history = {"final": {name: float(value) for name, value in (result.metrics or {}).items()}}
    return booster, history, time.monotonic() - started


def _ray_train_worker(config: dict[str, Any]) -> None:
    """One Ray Train worker: its share of the rows, then collective xgboost.train."""
    import ray
    import ray.train
    import xgboost as xgb
    from ray.train.xgboost import RayTrainReportCallback

    class _ReportAtEnd(RayTrainReportCallback):
        """Ray Train's callback reports the metrics after every round, and each report waits
        on the train controller (about 2 s a round, measured with 1 GPU worker and with 2 CPU
        workers): report the final metrics once, with the model, when training ends."""

        def _report_metrics(self, report_dict: dict[str, Any]) -> None:
            pass

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()

    def shard(ref) -> xgb.DMatrix:
        frame = ray.get(ref).iloc[rank::world]
        return xgb.DMatrix(frame.drop(columns=[LABEL]), label=frame[LABEL])

    dtrain, dvalidation = shard(config["train"]), shard(config["validation"])
    xgb.train(
        config["params"],
        dtrain,
        num_boost_round=config["rounds"],
        evals=[(dtrain, "train"), (dvalidation, "validation")],
        verbose_eval=max(1, config["rounds"] // 10),
        callbacks=[_ReportAtEnd(frequency=0, checkpoint_at_end=True)],
    )


# Every trainer has the same contract: (train, validation, *, rounds, num_actors,
# cpus_per_actor, use_gpu, gpus_per_actor) -> (booster, per-round metrics, seconds).
# higgs.trainer_choice resolves trainer="auto" to one of them.
TRAINERS = {
    "xgboost": train_xgboost,
    "xgboost_ray": train_xgboost_ray,
    "ray_train": train_ray_train,
}


def evaluate(booster, test: pd.DataFrame) -> dict[str, float]:
    """AUC, log loss and accuracy of ``booster`` on the held-out test set."""
    import xgboost as xgb
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    test = to_pandas(test)
    labels = test[LABEL].to_numpy()
    scores = booster.predict(xgb.DMatrix(test.drop(columns=[LABEL])))
    return {
        "test_rows": len(test),
        "auc": float(roc_auc_score(labels, scores)),
        "logloss": float(log_loss(labels, np.clip(scores, 1e-7, 1 - 1e-7))),
        "accuracy": float(accuracy_score(labels, scores > 0.5)),
    }
