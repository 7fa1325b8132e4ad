"""Encode a result into files, one per part, in a format chosen by its type, and back.

* pandas DataFrame / Series (and modin, carried as pandas): Arrow IPC file (Feather v2), read
  back memory-mapped; the pandas metadata restores index and column names exactly.
* numpy arrays of numbers: Arrow tensor (IPC), read back memory-mapped.
* XGBoost ``Booster``: XGBoost's own UBJSON model format.
* tuples, lists and dicts with string keys: each item a part of its own (a tree).
* anything else: cloudpickle.

The tree (plain JSON) records the structure and each leaf's format and file name.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ray import cloudpickle

from ray_provider.runtime.portable import PortableModin

# Containers with more items than this are stored whole (cloudpickle), not part by part.
MAX_PARTS = 256


def _type_name(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _is_booster(value: Any) -> bool:
    xgboost = sys.modules.get("xgboost")
    return xgboost is not None and isinstance(value, xgboost.Booster)


def _is_numeric_array(value: Any) -> bool:
    numpy = sys.modules.get("numpy")
    return (
        numpy is not None
        and isinstance(value, numpy.ndarray)
        and value.dtype.kind in "biufc"
        and value.ndim >= 1
    )


def _is_frame(value: Any) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, (pandas.DataFrame, pandas.Series))


class _Encoder:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.files: list[str] = []

    def _path(self, suffix: str) -> tuple[str, str]:
        name = f"part-{len(self.files):05d}.{suffix}"
        self.files.append(name)
        return name, os.path.join(self.directory, name)

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
        sequence = isinstance(value, (tuple, list)) and not hasattr(value, "_fields")
        if sequence and len(value) <= MAX_PARTS:
            kind = "tuple" if isinstance(value, tuple) else "list"
            return {"kind": kind, "items": [self.encode(item) for item in value]}
        string_keyed = isinstance(value, dict) and all(isinstance(k, str) for k in value)
        if string_keyed and len(value) <= MAX_PARTS:
            return {"kind": "dict", "items": {k: self.encode(v) for k, v in value.items()}}
        return self._pickle(value)

    def _frame(self, frame: Any) -> dict[str, Any]:
        import pandas as pd
        import pyarrow as pa

        is_series = isinstance(frame, pd.Series)
        as_frame = frame.to_frame() if is_series else frame
        table = pa.Table.from_pandas(as_frame, preserve_index=True)
        name, path = self._path("arrow")
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=1 << 20)
        return {
            "kind": "leaf",
            "format": "arrow-ipc",
            "file": name,
            "type": _type_name(frame),
            "series": is_series,
        }

    def _tensor(self, array: Any) -> dict[str, Any]:
        import numpy as np
        import pyarrow as pa

        tensor = pa.Tensor.from_numpy(np.ascontiguousarray(array))
        name, path = self._path("tensor")
        with pa.OSFile(path, "wb") as sink:
            pa.ipc.write_tensor(tensor, sink)
        return {"kind": "leaf", "format": "arrow-tensor", "file": name, "type": _type_name(array)}

    def _booster(self, booster: Any) -> dict[str, Any]:
        name, path = self._path("ubj")
        with open(path, "wb") as out:
            out.write(booster.save_raw("ubj"))
        return {"kind": "leaf", "format": "xgboost-ubj", "file": name, "type": _type_name(booster)}

    def _pickle(self, value: Any) -> dict[str, Any]:
        name, path = self._path("pkl")
        with open(path, "wb") as out:
            cloudpickle.dump(value, out)
        return {"kind": "leaf", "format": "cloudpickle", "file": name, "type": _type_name(value)}


def encode(value: Any, directory: str) -> tuple[dict[str, Any], list[str]]:
    """Write ``value`` as files in ``directory``; returns (tree, file names)."""
    encoder = _Encoder(directory)
    return encoder.encode(value), encoder.files


def decode(tree: dict[str, Any], directory: str) -> Any:
    """Rebuild the value from the tree and the files in ``directory``."""
    kind = tree["kind"]
    if kind == "tuple":
        return tuple(decode(item, directory) for item in tree["items"])
    if kind == "list":
        return [decode(item, directory) for item in tree["items"]]
    if kind == "dict":
        return {key: decode(item, directory) for key, item in tree["items"].items()}
    path = os.path.join(directory, tree["file"])
    fmt = tree["format"]
    if fmt == "arrow-ipc":
        import pyarrow as pa

        # Left open on purpose: Arrow keeps the map alive as long as buffers point into it.
        frame = pa.ipc.open_file(pa.memory_map(path)).read_all().to_pandas()
        if tree.get("series"):
            frame = frame.iloc[:, 0]
        return PortableModin(frame=frame, kind=tree["modin"]) if tree.get("modin") else frame
    if fmt == "arrow-tensor":
        import pyarrow as pa

        return pa.ipc.read_tensor(pa.memory_map(path)).to_numpy()
    if fmt == "xgboost-ubj":
        import xgboost

        booster = xgboost.Booster()
        with open(path, "rb") as handle:
            booster.load_model(bytearray(handle.read()))
        return booster
    if fmt == "cloudpickle":
        with open(path, "rb") as handle:
            return cloudpickle.load(handle)
    raise ValueError(f"unknown checkpoint part format {fmt!r}")
