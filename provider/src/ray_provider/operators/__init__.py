"""Operators: ``RaySubmitJobOperator``, per-run clusters (``RayClusterSetupOperator``,
``RayClusterTeardownOperator``), and astro-provider-ray's names for its users' DAGs.

``from ray_provider.operators import SubmitRayJob`` is how that provider's DAGs import it; the
names resolve on first use, so importing this package loads nothing heavy.
"""

from __future__ import annotations

from typing import Any

_HOMES = {
    "RaySubmitJobOperator": "ray_provider.operators.ray_job",
    "RayClusterSetupOperator": "ray_provider.operators.ray_cluster",
    "RayClusterTeardownOperator": "ray_provider.operators.ray_cluster",
    "SubmitRayJob": "ray_provider.compat.astro_operators",
    "SetupRayCluster": "ray_provider.compat.astro_operators",
    "DeleteRayCluster": "ray_provider.compat.astro_operators",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_HOMES[name]), name)


__all__ = sorted(_HOMES)
