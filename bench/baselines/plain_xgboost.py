"""The baseline every training benchmark compares against: plain ``xgboost.train``.

The pipeline's parameters (``higgs.model.xgboost_params``: hist, depth 8, eta 0.1, logloss +
error on train and validation every round) on one DMatrix, in this process. Shared by
``bench.suites.training`` (CPU) and ``bench.suites.gpu_training`` (CPU and CUDA, and inside a
Ray task), so both measure the same call.
"""

from __future__ import annotations

import time
from typing import Any


def train_plain(train, validation, rounds: int, *, nthread: int, device: str = "cpu"):
    """(booster, seconds of ``xgb.train`` alone, without building the DMatrix)."""
    import xgboost as xgb
    from higgs.model import xgboost_params
    from higgs.schema import LABEL

    params: dict[str, Any] = {**xgboost_params(device == "cuda"), "nthread": nthread}
    dtrain = xgb.DMatrix(train.drop(columns=[LABEL]), label=train[LABEL], nthread=nthread)
    dvalidation = xgb.DMatrix(
        validation.drop(columns=[LABEL]), label=validation[LABEL], nthread=nthread
    )
    started = time.perf_counter()
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=rounds,
        evals=[(dtrain, "train"), (dvalidation, "validation")],
        verbose_eval=False,
    )
    return booster, time.perf_counter() - started
