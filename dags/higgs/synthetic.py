"""HIGGS-shaped synthetic data with a label a model can learn (offline default, and tests).

Features are drawn like the real ones (positive momenta, angles in [-pi, pi], b-tags in
{0, 1, 2.17}, masses around 1); the label comes from a fixed nonlinear score of a few of them
plus noise, so a good model reaches a test AUC around 0.8 and a broken one stays near 0.5.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from higgs.schema import COLUMNS, FEATURES

_MOMENTA = [i for i, name in enumerate(FEATURES) if name.endswith(("_pt", "magnitude"))]
_ANGLES = [i for i, name in enumerate(FEATURES) if name.endswith(("_eta", "_phi"))]
_BTAGS = [i for i, name in enumerate(FEATURES) if name.endswith("_btag")]
_MASSES = [i for i, name in enumerate(FEATURES) if name.startswith("m_")]
# Rows are made in chunks, each from its own seed, so the first N rows are the same whatever
# the total: a small run sees a prefix of a large one, as with the real file.
CHUNK_ROWS = 100_000
# The score's mean (0.8 * E[b-tag] - 1.5 * E|m_bb - 1|): a threshold that balances the label.
SCORE_THRESHOLD = 0.8 * (0.0 + 1.0 + 2.17) / 3 - 1.5 * 0.3 * np.sqrt(2 / np.pi)


def _chunk(rows: int, rng: np.random.Generator) -> np.ndarray:
    features = np.empty((rows, len(FEATURES)), dtype=np.float32)
    features[:, _MOMENTA] = rng.lognormal(0.0, 0.5, size=(rows, len(_MOMENTA)))
    features[:, _ANGLES] = rng.uniform(-np.pi, np.pi, size=(rows, len(_ANGLES)))
    features[:, _BTAGS] = rng.choice(
        np.array([0.0, 1.0, 2.17], dtype=np.float32), size=(rows, len(_BTAGS))
    )
    features[:, _MASSES] = rng.normal(1.0, 0.3, size=(rows, len(_MASSES)))
    m_bb, m_wwbb = features[:, _MASSES[4]], features[:, _MASSES[6]]
    score = (
        2.0 * (m_wwbb - 1.0)
        - 1.5 * np.abs(m_bb - 1.0)
        + 0.8 * features[:, _BTAGS[0]]
        + 0.5 * np.log(features[:, _MOMENTA[0]])
        + rng.normal(0.0, 1.0, size=rows)
    )
    label = (score > SCORE_THRESHOLD).astype(np.float32)
    return np.column_stack([label, features])


def synthetic_higgs(rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` rows with HIGGS's 29 float32 columns (label first)."""
    if rows <= 0:
        raise ValueError(f"rows={rows}: need at least one row")
    chunks = [
        _chunk(CHUNK_ROWS, np.random.default_rng([seed, index]))[: rows - start]
        for index, start in enumerate(range(0, rows, CHUNK_ROWS))
    ]
    # Column-major, as read_csv makes frames: each column contiguous (cheap to hand to Arrow).
    return pd.DataFrame(np.asfortranarray(np.concatenate(chunks)), columns=COLUMNS)
