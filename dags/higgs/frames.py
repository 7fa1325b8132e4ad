"""modin for the data frames the pipeline hands around, pandas where a library needs one.

The pipeline loads and splits with modin so a large frame is partitioned across the cluster
rather than held by one worker. Training and scoring take pandas: xgboost-ray can read modin
partitions directly, but its loader then needs CPUs beside the training actors and waits for
ever on a cluster whose CPUs the actors already hold (measured on 2 cores), and xgboost's
own ``DMatrix`` wants pandas or numpy anyway.
"""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd


def to_modin(frame: pd.DataFrame) -> Any:
    """``frame`` as a modin DataFrame on the Ray cluster the caller is connected to."""
    import modin.pandas as mpd

    if isinstance(frame, mpd.DataFrame):
        return frame
    with warnings.catch_warnings():
        # "Distributing <DataFrame> object. This may take some time.": that is the point here.
        warnings.filterwarnings("ignore", message="Distributing", category=UserWarning)
        return mpd.DataFrame(frame)


def to_pandas(frame: Any) -> pd.DataFrame:
    """A pandas DataFrame, whether ``frame`` is pandas or modin."""
    return frame if isinstance(frame, pd.DataFrame) else frame._to_pandas()
