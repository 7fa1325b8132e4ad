"""The XGBoost parameters every trainer of the pipeline uses, so their models compare.

Its own module because both ``higgs.model`` and ``higgs.single_node`` need it at import time:
the modules travel to Ray by value, where an import inside a function cannot find ``higgs``.
"""

from __future__ import annotations

from typing import Any


def xgboost_params(use_gpu: bool) -> dict[str, Any]:
    return {
        "objective": "binary:logistic",
        "eval_metric": ["logloss", "error"],
        "tree_method": "hist",
        "device": "cuda" if use_gpu else "cpu",
        "max_depth": 8,
        "eta": 0.1,
    }
