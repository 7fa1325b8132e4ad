"""Split, train (xgboost-ray) and evaluate: the pipeline's modelling steps as plain functions."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from higgs.schema import LABEL, STANDARD_TEST_ROWS


def split(frame: pd.DataFrame, validation_fraction: float = 0.1):
    """(train, validation, test): the last rows are the test set, as in the standard split.

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


def xgboost_params(use_gpu: bool) -> dict[str, Any]:
    return {
        "objective": "binary:logistic",
        "eval_metric": ["logloss", "error"],
        "tree_method": "hist",
        "device": "cuda" if use_gpu else "cpu",
        "max_depth": 8,
        "eta": 0.1,
    }


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
    dtrain = RayDMatrix(train, label=LABEL)
    dvalidation = RayDMatrix(validation, label=LABEL)
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


def evaluate(booster, test: pd.DataFrame) -> dict[str, float]:
    """AUC, log loss and accuracy of ``booster`` on the held-out test set."""
    import xgboost as xgb
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    labels = test[LABEL].to_numpy()
    scores = booster.predict(xgb.DMatrix(test.drop(columns=[LABEL])))
    return {
        "test_rows": len(test),
        "auc": float(roc_auc_score(labels, scores)),
        "logloss": float(log_loss(labels, np.clip(scores, 1e-7, 1 - 1e-7))),
        "accuracy": float(accuracy_score(labels, scores > 0.5)),
    }
