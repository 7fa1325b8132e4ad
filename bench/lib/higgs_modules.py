"""The HIGGS pipeline's helpers (``dags/higgs``), importable here and shipped to Ray by value.

Ray workers cannot import the DAG folder, so, as the provider does for DAG files, every
module of the package is registered with Ray's own cloudpickle to travel by value. Call it
before connecting anything that sends these functions to Ray.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from types import ModuleType

from bench.lib.common import ROOT


def import_higgs() -> ModuleType:
    """``higgs`` with all its submodules imported and registered for pickling by value."""
    dags = str(ROOT / "dags")
    if dags not in sys.path:
        sys.path.insert(0, dags)
    from ray import cloudpickle

    higgs = importlib.import_module("higgs")
    cloudpickle.register_pickle_by_value(higgs)
    for info in pkgutil.iter_modules(higgs.__path__):
        module = importlib.import_module(f"higgs.{info.name}")
        cloudpickle.register_pickle_by_value(module)
    return higgs
