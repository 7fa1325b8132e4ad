"""The one walk over containers: rebuild a value with some of its nodes replaced.

Every place that looks inside a value (upstream references in a callable's arguments, the
slots the Ray worker fills back in, modin frames made portable and restored, the parts of a
checkpoint) goes through this module, so they all agree on what a container is and on what
comes out of it.

The rule set (:func:`children`):

* ``list``, ``tuple``, ``dict``: walked, rebuilt as the same type.
* a namedtuple: walked, rebuilt as the same namedtuple class (through its ``_make``).
* ``collections.OrderedDict``: walked, rebuilt as an ``OrderedDict`` in the same order.
* ``collections.defaultdict``: walked, rebuilt with the same ``default_factory``.
* everything else is a leaf, passed on as it is: sets and frozensets (their items must be
  hashable, and what a walk puts in, e.g. a data frame, is not), other subclasses of list,
  tuple or dict (their constructors take arguments we cannot guess, and rebuilding them as
  the base type is exactly the silent type change this module exists to prevent), objects,
  dataclasses, arrays and frames (their insides are not ours to rebuild).

Only the types are tested exactly (``type(x) is list``), never ``isinstance``, so a subclass
never slips into a rule written for its base. Dict keys are never walked: they are hashable
and stay as they are. A container whose items all come back unchanged is returned itself
(the same object, not a copy), so a walk that replaces nothing changes nothing, not even
identity or aliasing.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Final

LIST: Final = "list"
TUPLE: Final = "tuple"
NAMEDTUPLE: Final = "namedtuple"
DICT: Final = "dict"
ORDERED_DICT: Final = "OrderedDict"
DEFAULT_DICT: Final = "defaultdict"


class _Keep:
    """The type of :data:`KEEP`; its repr names it in a traceback."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()
"""What a ``replace`` callback returns for a node it does not replace."""

Replace = Callable[[Any], Any]


@dataclass(frozen=True)
class Children:
    """A container seen through the rule set: its kind, its items, and how to rebuild it.

    ``keys`` are a mapping's keys in order (``None`` for a sequence); ``values`` are the items
    (a mapping's values), in the same order.
    """

    kind: str
    keys: tuple[Hashable, ...] | None
    values: tuple[Any, ...]
    original: Any

    def rebuild(self, values: Sequence[Any]) -> Any:
        """The container with ``values`` in place of its items; itself if none changed."""
        if len(values) == len(self.values) and all(
            new is old for new, old in zip(values, self.values, strict=True)
        ):
            return self.original
        if self.kind == LIST:
            return list(values)
        if self.kind == TUPLE:
            return tuple(values)
        if self.kind == NAMEDTUPLE:
            return type(self.original)._make(values)
        pairs = zip(self.keys or (), values, strict=True)
        if self.kind == DICT:
            return dict(pairs)
        if self.kind == ORDERED_DICT:
            return OrderedDict(pairs)
        return defaultdict(self.original.default_factory, pairs)


def _is_namedtuple(value: Any) -> bool:
    cls = type(value)
    return (
        isinstance(value, tuple)
        and isinstance(getattr(cls, "_fields", None), tuple)
        and callable(getattr(cls, "_make", None))
    )


_SEQUENCE_KINDS: Final = {list: LIST, tuple: TUPLE}
_MAPPING_KINDS: Final = {dict: DICT, OrderedDict: ORDERED_DICT, defaultdict: DEFAULT_DICT}


def children(value: Any) -> Children | None:
    """The container's items under the rule set (module docstring); ``None`` for a leaf."""
    cls = type(value)
    kind = _SEQUENCE_KINDS.get(cls)
    if kind is None and _is_namedtuple(value):
        kind = NAMEDTUPLE
    if kind is not None:
        return Children(kind=kind, keys=None, values=tuple(value), original=value)
    kind = _MAPPING_KINDS.get(cls)
    if kind is not None:
        return Children(
            kind=kind, keys=tuple(value.keys()), values=tuple(value.values()), original=value
        )
    return None


def walk(value: Any, replace: Replace, *, max_items: int | None = None) -> Any:
    """Rebuild ``value`` with the nodes that ``replace`` replaces.

    ``replace`` sees every node, containers before their items (so it can claim a whole dict,
    such as an XCom reference); it returns the node's replacement, which is not walked
    further, or :data:`KEEP`. A kept container is walked into; a kept leaf stays.

    ``max_items``: a container with more items than this is kept whole, not walked into
    (walking a million-item list costs more than it could find). ``None``: no limit. Two
    walks that must mirror each other (putting slots in, filling them back) must use the same
    limit.
    """
    replaced = replace(value)
    if replaced is not KEEP:
        return replaced
    found = children(value)
    if found is None or (max_items is not None and len(found.values) > max_items):
        return value
    return found.rebuild([walk(item, replace, max_items=max_items) for item in found.values])
