"""The one walk over containers: which containers it rebuilds, as what, and what it leaves."""

from __future__ import annotations

from collections import Counter, OrderedDict, defaultdict, namedtuple
from typing import Any, NamedTuple

import pytest

from ray_provider.runtime.execute import RefSlot, _size_of, _substitute
from ray_provider.runtime.portable import PortableModin, make_portable, restore
from ray_provider.runtime.walk import KEEP, children, walk

Point = namedtuple("Point", ["x", "y"])


class Pair(NamedTuple):
    left: Any
    right: Any


class Marker:
    """A leaf the tests replace."""


def upper_strings(node: Any) -> Any:
    return node.upper() if isinstance(node, str) else KEEP


def test_leaves_are_replaced_at_any_depth():
    value = {"a": ["x", ("y", {"b": "z"})], "n": 3}
    assert walk(value, upper_strings) == {"a": ["X", ("Y", {"b": "Z"})], "n": 3}


@pytest.mark.parametrize(
    "value",
    [
        Point("a", "b"),
        Pair("a", ["b"]),
        OrderedDict([("z", "a"), ("y", "b")]),
        ["a", "b"],
        ("a", "b"),
        {"k": "a"},
    ],
    ids=["namedtuple", "typing.NamedTuple", "OrderedDict", "list", "tuple", "dict"],
)
def test_a_rebuilt_container_keeps_its_exact_type(value):
    rebuilt = walk(value, upper_strings)
    assert type(rebuilt) is type(value)
    assert rebuilt is not value


def test_namedtuple_fields_and_ordered_dict_order_survive():
    point = walk(Point("a", "b"), upper_strings)
    assert point.x == "A" and point.y == "B"
    ordered = walk(OrderedDict([("z", "a"), ("y", "b")]), upper_strings)
    assert list(ordered.items()) == [("z", "A"), ("y", "B")]


def test_a_defaultdict_keeps_its_factory():
    counts = defaultdict(list, {"k": "a"})
    rebuilt = walk(counts, upper_strings)
    assert type(rebuilt) is defaultdict and rebuilt["k"] == "A"
    assert rebuilt["missing"] == []


def test_dict_keys_are_not_walked():
    assert walk({"key": "value"}, upper_strings) == {"key": "VALUE"}


def test_a_walk_that_replaces_nothing_returns_the_same_objects():
    inner = ["1", 2]
    value = {"a": inner, "b": (inner, Point(1, 2))}
    assert walk(value, lambda node: KEEP) is value
    # Only the containers on the path to a replaced leaf are new.
    mixed = {"changed": ["a"], "same": inner}
    rebuilt = walk(mixed, lambda node: "B" if node == "a" else KEEP)
    assert rebuilt == {"changed": ["B"], "same": inner}
    assert rebuilt["same"] is inner and rebuilt is not mixed


@pytest.mark.parametrize(
    "value",
    [{"a"}, frozenset({"a"}), Counter(a=1), Marker()],
    ids=["set", "frozenset", "Counter (a dict subclass)", "object"],
)
def test_anything_outside_the_rule_set_is_a_leaf(value):
    assert children(value) is None
    seen: list[Any] = []
    assert walk(value, lambda node: seen.append(node) or KEEP) is value
    assert seen == [value]


def test_a_subclass_of_list_is_not_mistaken_for_a_list():
    class Tagged(list):
        pass

    tagged = Tagged(["a"])
    assert walk(tagged, upper_strings) is tagged
    assert tagged == ["a"]


def test_replace_sees_a_container_before_its_items_and_may_claim_it():
    seen: list[Any] = []

    def claim_marked(node: Any) -> Any:
        seen.append(node)
        if isinstance(node, dict) and "__ref__" in node:
            return "slot"
        return KEEP

    value = [{"__ref__": 1, "inner": ["never visited"]}]
    assert walk(value, claim_marked) == ["slot"]
    assert seen == [value, value[0]]


def test_a_replacement_is_not_walked_again():
    assert walk(["a"], lambda node: ["a"] if node == "a" else KEEP) == [["a"]]


def test_containers_over_max_items_are_kept_whole():
    big = ["a"] * 5
    assert walk([big, ["a"]], upper_strings, max_items=4) == [big, ["A"]]
    assert walk([big], upper_strings, max_items=4)[0] is big
    assert walk(big, upper_strings, max_items=5) == ["A"] * 5


def test_children_describes_mappings_with_keys_in_order():
    found = children(OrderedDict([("b", 1), ("a", 2)]))
    assert found is not None
    assert (found.kind, found.keys, found.values) == ("OrderedDict", ("b", "a"), (1, 2))
    sequence = children(Point(1, 2))
    assert sequence is not None and (sequence.kind, sequence.keys) == ("namedtuple", None)


# The call sites: the worker fills slots back in, and results are made portable and restored.


def test_slots_are_filled_in_namedtuples_and_ordered_dicts():
    args = (Point(RefSlot(0), 1), OrderedDict([("frame", RefSlot(1))]))
    filled = _substitute(args, ("first", "second"))
    assert filled == (Point("first", 1), OrderedDict([("frame", "second")]))
    assert type(filled[0]) is Point and type(filled[1]) is OrderedDict


def test_restore_rebuilds_typed_containers_around_portable_values():
    value = OrderedDict([("p", Pair(1, [2]))])
    assert restore(value) is value  # nothing to restore: the very same object


def test_make_portable_keeps_container_types():
    value = {"point": Point(1, [2, 3]), "ordered": OrderedDict([("a", 1)])}
    portable = make_portable(value)
    assert type(portable["point"]) is Point and type(portable["ordered"]) is OrderedDict
    assert portable == value


def test_size_of_counts_items_of_every_walked_container():
    import numpy as np

    array = np.zeros(1000, dtype="float64")
    assert _size_of(Point(array, array)) == 16_000
    assert _size_of(OrderedDict([("a", array)])) == 8_000
    assert _size_of(PortableModin(frame=array, kind="DataFrame")) == 8_000
