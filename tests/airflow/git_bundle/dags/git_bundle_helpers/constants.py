"""A constant the scoring helper imports from a sibling module (a nested by-value import)."""

BASE = 21
MARK = "computed by git_bundle_helpers"
