"""Encode a result into files, one per part, in a format chosen by its type, and back.

* pandas DataFrame / Series (and modin, carried as pandas): Arrow IPC stream; the pandas
  metadata restores index, column names and dtypes exactly.
* numpy arrays of integers and floats: Arrow tensor (IPC).
* XGBoost ``Booster``: XGBoost's own UBJSON model format.
* tuples, lists and dicts with string keys: each item a part of its own (a tree). The
  containers are those of ``runtime.walk``; a namedtuple, OrderedDict or defaultdict is
  pickled whole, so it reads back as its own type (the tree holds no Python types).
* anything else: cloudpickle.

The tree (plain JSON) records the structure and each leaf's format and part name. Parts are
written to streams that the caller opens (``open_part(name)``), so the encoder never holds a
second copy of a large value and never needs a local file; they are read back from buffers the
caller has verified (``read_part(name)``), so nothing is decoded before it is authenticated.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import IO, Any

from ray import cloudpickle

from ray_provider.runtime import walk
from ray_provider.runtime.portable import PortableModin

PartOpener = Callable[..., AbstractContextManager[IO[bytes]]]  # (name, length=-1)

# Containers with more items than this are stored whole (cloudpickle), not part by part.
MAX_PARTS = 256


# The containers the tree rebuilds, by their ``runtime.walk`` kind, and their names in the
# tree (a stored format: these names never change). A namedtuple, an OrderedDict or a
# defaultdict needs its Python type to come back as itself, which the tree (plain JSON) does
# not hold, so it is pickled whole: it reads back as its own type, never as the plain
# container it resembles.
_TREE_KINDS = {walk.LIST: "list", walk.TUPLE: "tuple", walk.DICT: "dict"}


def _tree_kind(found: walk.Children) -> str | None:
    """The container's kind in the tree, or ``None`` when the tree cannot rebuild it exactly.

    A dict needs string keys: JSON object keys are strings.
    """
    if found.keys is not None and not all(isinstance(key, str) for key in found.keys):
        return None
    return _TREE_KINDS.get(found.kind)


def _type_name(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _is_booster(value: Any) -> bool:
    xgboost = sys.modules.get("xgboost")
    return xgboost is not None and isinstance(value, xgboost.Booster)


def _is_numeric_array(value: Any) -> bool:
    """Arrays an Arrow tensor holds exactly: signed, unsigned and float numbers.

    Not bool (a tensor reads it back as uint8) nor complex (Arrow has no tensor type for it):
    those are pickled.
    """
    numpy = sys.modules.get("numpy")
    return (
        numpy is not None
        and isinstance(value, numpy.ndarray)
        and value.dtype.kind in "iuf"
        and value.ndim >= 1
    )


def _is_frame(value: Any) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, (pandas.DataFrame, pandas.Series))


def _arrow_table(frame: Any) -> Any:
    """The frame as an Arrow table, without a copy where the columns allow it.

    ``Table.from_pandas`` scans every float column for NaN to build validity bitmaps (2 s
    for a 1.2 GB frame here). A frame of plain numpy numeric columns with a RangeIndex, the
    common case for ML data, is wrapped column by column instead: zero-copy, NaN kept as NaN,
    and the same pandas metadata, so it reads back identically.
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    plain = (
        isinstance(frame.index, pd.RangeIndex)
        and frame.columns.is_unique
        and all(isinstance(d, np.dtype) and d.kind in "fiub" for d in frame.dtypes)
    )
    if not plain:
        return pa.Table.from_pandas(frame, preserve_index=True)
    schema = pa.Schema.from_pandas(frame, preserve_index=None)
    arrays = [
        pa.array(frame.iloc[:, position].to_numpy(), from_pandas=False)
        for position in range(frame.shape[1])
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def _stream_size(write: Callable[[Any], None]) -> int:
    """Bytes that ``write`` produces, counted without producing them (metadata only)."""
    import pyarrow as pa

    counter = pa.MockOutputStream()
    write(counter)
    return counter.size()


class _Encoder:
    def __init__(self, open_part: PartOpener) -> None:
        self.open_part = open_part
        self.parts: list[str] = []

    def _name(self, suffix: str) -> str:
        name = f"part-{len(self.parts):05d}.{suffix}"
        self.parts.append(name)
        return name

    def encode(self, value: Any) -> dict[str, Any]:
        if isinstance(value, PortableModin):
            leaf = self._frame(value.frame)
            return {**leaf, "modin": value.kind}
        if _is_frame(value):
            return self._frame(value)
        if _is_numeric_array(value):
            return self._tensor(value)
        if _is_booster(value):
            return self._booster(value)
        found = walk.children(value)
        kind = None if found is None else _tree_kind(found)
        if found is None or kind is None or len(found.values) > MAX_PARTS:
            return self._pickle(value)
        items = [self.encode(item) for item in found.values]
        if found.keys is None:
            return {"kind": kind, "items": items}
        return {"kind": kind, "items": dict(zip(found.keys, items, strict=True))}

    def _frame(self, frame: Any) -> dict[str, Any]:
        import pandas as pd
        import pyarrow as pa

        is_series = isinstance(frame, pd.Series)
        as_frame = frame.to_frame() if is_series else frame
        if as_frame.columns.inferred_type.startswith("mixed"):
            # Arrow turns column names of mixed types (e.g. "x" and 7) into strings.
            return self._pickle(frame)
        table = _arrow_table(as_frame)
        name = self._name("arrows")

        def write_stream(sink: Any) -> None:
            with pa.ipc.new_stream(sink, table.schema) as writer:
                # One batch per table chunk (one, from pandas): the reader then gets one
                # contiguous buffer per column, which pandas adopts without copying.
                writer.write_table(table)

        with self.open_part(name, _stream_size(write_stream)) as out:
            write_stream(pa.PythonFile(out, mode="w"))
        return {
            "kind": "leaf",
            "format": "arrow-ipc-stream",
            "part": name,
            "type": _type_name(frame),
            "series": is_series,
        }

    def _tensor(self, array: Any) -> dict[str, Any]:
        import numpy as np
        import pyarrow as pa

        tensor = pa.Tensor.from_numpy(np.ascontiguousarray(array))
        name = self._name("tensor")
        with self.open_part(name, pa.ipc.get_tensor_size(tensor)) as out:
            pa.ipc.write_tensor(tensor, pa.PythonFile(out, mode="w"))
        return {"kind": "leaf", "format": "arrow-tensor", "part": name, "type": _type_name(array)}

    def _booster(self, booster: Any) -> dict[str, Any]:
        name = self._name("ubj")
        with self.open_part(name) as out:
            out.write(booster.save_raw("ubj"))
        return {"kind": "leaf", "format": "xgboost-ubj", "part": name, "type": _type_name(booster)}

    def _pickle(self, value: Any) -> dict[str, Any]:
        name = self._name("pkl")
        with self.open_part(name) as out:
            cloudpickle.dump(value, out)
        return {"kind": "leaf", "format": "cloudpickle", "part": name, "type": _type_name(value)}


def encode(value: Any, open_part: PartOpener) -> tuple[dict[str, Any], list[str]]:
    """Write ``value`` as parts through ``open_part``; returns (tree, part names)."""
    encoder = _Encoder(open_part)
    return encoder.encode(value), encoder.parts


def decode(tree: dict[str, Any], read_part: Callable[[str], memoryview]) -> Any:
    """Rebuild the value from the tree; ``read_part(name)`` returns a part's verified bytes.

    The reader checks each part against the authenticated manifest before it returns it, so a
    decoder (cloudpickle above all) never sees bytes that the deployment did not write.
    """
    kind = tree["kind"]
    if kind == "tuple":
        return tuple(decode(item, read_part) for item in tree["items"])
    if kind == "list":
        return [decode(item, read_part) for item in tree["items"]]
    if kind == "dict":
        return {key: decode(item, read_part) for key, item in tree["items"].items()}
    return _decode_leaf(tree, read_part(tree["part"]))


def _decode_leaf(tree: dict[str, Any], data: memoryview) -> Any:
    fmt = tree["format"]
    if fmt == "arrow-ipc-stream":
        import pyarrow as pa

        # Zero-copy: the columns are views of the downloaded buffer, which the frame keeps.
        table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
        frame = table.to_pandas(split_blocks=True, self_destruct=True)
        del table
        if tree.get("series"):
            frame = frame.iloc[:, 0]
        return PortableModin(frame=frame, kind=tree["modin"]) if tree.get("modin") else frame
    if fmt == "arrow-tensor":
        import pyarrow as pa

        return pa.ipc.read_tensor(pa.BufferReader(pa.py_buffer(data))).to_numpy()
    if fmt == "xgboost-ubj":
        import xgboost

        booster = xgboost.Booster()
        booster.load_model(bytearray(data))
        return booster
    if fmt == "cloudpickle":
        return cloudpickle.loads(data)
    raise ValueError(f"unknown checkpoint part format {fmt!r}")
