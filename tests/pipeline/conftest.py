"""The pipeline's helpers import as the DAG folder sees them (``higgs`` is a top-level package)."""

from __future__ import annotations

import sys
from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"
if str(DAGS) not in sys.path:
    sys.path.insert(0, str(DAGS))
