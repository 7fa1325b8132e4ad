"""PNG plots of benchmark results: medians with min-max error bars, headless (Agg).

A series is ``{label: [(x, stats), ...]}`` where ``stats`` is :func:`bench.lib.common.summarize`
output (or ``None`` for a point that could not be measured, which is left out of the line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

Series = dict[str, list[tuple[Any, dict[str, Any] | None]]]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _errors(points: list[dict[str, Any]]) -> list[list[float]]:
    return [[p["median"] - p["min"] for p in points], [p["max"] - p["median"] for p in points]]


def loglog_panels(
    path: Path, title: str, panels: list[tuple[str, Series]], xlabel: str, ylabel: str
) -> Path:
    """One log-log panel per ``(subtitle, series)``: one line per series, x = size."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.8), squeeze=False)
    for ax, (subtitle, series) in zip(axes[0], panels, strict=True):
        for label, raw in series.items():
            points = [(x, s) for x, s in raw if s is not None]
            if not points:
                continue
            xs = [x for x, _ in points]
            stats = [s for _, s in points]
            ax.errorbar(
                xs,
                [s["median"] for s in stats],
                yerr=_errors(stats),
                marker="o",
                capsize=3,
                label=label,
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(subtitle, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def grouped_bars(
    path: Path,
    title: str,
    groups: list[str],
    series: dict[str, list[dict[str, Any] | None]],
    ylabel: str,
) -> Path:
    """Bars per group (x) and series (colour), medians with min-max error bars."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(groups) * max(1, len(series)) / 2), 4.5))
    width = 0.8 / max(1, len(series))
    for index, (label, values) in enumerate(series.items()):
        xs, medians, errors_low, errors_high = [], [], [], []
        for group_index, stats in enumerate(values):
            if stats is None:
                continue
            xs.append(group_index + (index - (len(series) - 1) / 2) * width)
            medians.append(stats["median"])
            errors_low.append(stats["median"] - stats["min"])
            errors_high.append(stats["max"] - stats["median"])
        ax.bar(xs, medians, width, yerr=[errors_low, errors_high], capsize=3, label=label)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    return _finish_bars(plt, fig, ax, path, title, ylabel)


def stacked_bars(
    path: Path, title: str, bars: list[str], parts: dict[str, list[float]], ylabel: str
) -> Path:
    """One stacked bar per entry of ``bars``; ``parts`` maps a component to its heights."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    bottoms = [0.0] * len(bars)
    for label, heights in parts.items():
        ax.bar(bars, heights, bottom=bottoms, label=label)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    return _finish_bars(plt, fig, ax, path, title, ylabel)


def _finish_bars(plt, fig, ax, path: Path, title: str, ylabel: str) -> Path:
    """Labels, grid and legend shared by the bar charts; saves and closes the figure."""
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
