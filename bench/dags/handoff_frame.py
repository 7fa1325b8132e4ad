"""The frame every handoff method carries: ``rows`` x 29 float32 columns, HIGGS's shape.

Random values (seeded), so Parquet cannot shrink them by compression: real measurements do
not compress much either. Columns are contiguous in memory, as ``pandas.read_csv`` makes them.
Lives beside the benchmark DAG so the provider pickles it by value for the Ray workers, and
the benchmark process imports the same function for its baselines.
"""

from __future__ import annotations

COLUMNS = 29


def make_frame(rows: int, seed: int = 0):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    values = np.asfortranarray(rng.random((rows, COLUMNS), dtype=np.float32))
    return pd.DataFrame(values, columns=["label", *(f"f{i}" for i in range(1, COLUMNS))])
