"""Deterministic data shared by the checkpoint fault DAGs and their tests.

Lives beside the DAGs, so the DAG's Ray tasks use it pickled by value (the Ray workers cannot
import the DAG folder): that is part of what the tests check.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

ROWS = 200_000


def make_value():
    """A tuple of a frame and an array, like the pipeline's (train, validation)."""
    rng = np.random.default_rng(42)
    frame = pd.DataFrame(rng.normal(size=(ROWS, 4)).astype("float32"), columns=list("abcd"))
    frame["label"] = (frame["a"] > 0).astype("int8")
    return frame, rng.integers(0, 1000, size=(ROWS // 2, 3))


def checksum(value) -> str:
    frame, array = value
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()
