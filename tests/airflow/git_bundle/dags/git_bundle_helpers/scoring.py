"""What the @task.ray callable calls: it only works on Ray if this module travels by value."""

from __future__ import annotations

from git_bundle_helpers.constants import BASE, MARK


def score(factor: int) -> dict[str, object]:
    return {"value": factor * BASE, "mark": MARK}
