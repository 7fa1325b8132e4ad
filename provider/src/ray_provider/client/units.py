"""Sizes as people read them in logs and errors."""

from __future__ import annotations


def human_size(size: int) -> str:
    """``1536`` -> ``"1.5 KiB"``: binary units up to GiB (a result is rarely bigger)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{value:.1f} GiB"
