"""Checkpoint codecs over in-memory parts: each format round-trips, and the tree is JSON.

``checkpoint_io`` streams the same parts to S3 and checks them against the signed manifest;
here the parts are bytes in a dict, so the formats themselves are tested in milliseconds.
"""

from __future__ import annotations

import io
import json
import threading
from collections import OrderedDict, defaultdict, namedtuple
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ray_provider.runtime import codecs
from ray_provider.runtime.portable import PortableModin

Point = namedtuple("Point", ["x", "y"])


class MemoryParts:
    """The part store of a checkpoint, in memory; records the length each part announced."""

    def __init__(self) -> None:
        self.parts: dict[str, bytes] = {}
        self.announced: dict[str, int] = {}
        self.reads: list[str] = []

    @contextmanager
    def open_part(self, name: str, length: int = -1) -> Iterator[io.BytesIO]:
        assert name not in self.parts, f"part {name} written twice"
        buffer = io.BytesIO()
        yield buffer
        self.parts[name] = buffer.getvalue()
        self.announced[name] = length

    def read_part(self, name: str) -> memoryview:
        self.reads.append(name)
        return memoryview(self.parts[name])


def round_trip(value: Any) -> tuple[Any, dict[str, Any], MemoryParts]:
    store = MemoryParts()
    tree, names = codecs.encode(value, store.open_part)
    assert names == list(store.parts), "encode lists exactly the parts it wrote, in order"
    tree = json.loads(json.dumps(tree))  # what a reader parses from the manifest
    return codecs.decode(tree, store.read_part), tree, store


def formats(tree: dict[str, Any]) -> list[str]:
    if tree["kind"] == "leaf":
        return [tree["format"]]
    items = tree["items"].values() if isinstance(tree["items"], dict) else tree["items"]
    return [fmt for item in items for fmt in formats(item)]


def test_a_frame_with_index_names_and_dtypes_comes_back_identical():
    frame = pd.DataFrame(
        {
            "f": [1.5, np.nan, 3.0],
            "i": np.array([1, 2, 3], dtype="int32"),
            "s": ["a", None, "c"],
            "t": pd.to_datetime(["2026-01-01", "2026-01-02", None]),
            "c": pd.Categorical(["x", "y", "x"]),
        },
        index=pd.Index(["r1", "r2", "r3"], name="row"),
    )
    back, tree, _ = round_trip(frame)
    assert tree["format"] == "arrow-ipc-stream" and tree["type"] == "pandas.core.frame.DataFrame"
    pd.testing.assert_frame_equal(back, frame)


def test_a_plain_numeric_frame_takes_the_zero_copy_path_and_keeps_nan():
    frame = pd.DataFrame(np.arange(12, dtype="float32").reshape(4, 3), columns=["a", "b", "c"])
    frame.iloc[1, 1] = np.nan
    frame["label"] = np.array([0, 1, 0, 1], dtype="int8")
    back, _, _ = round_trip(frame)
    pd.testing.assert_frame_equal(back, frame)
    assert np.isnan(back.iloc[1, 1])


def test_the_announced_part_length_is_the_written_length():
    """Uploads size their parts from the announced length: it must be exact."""
    frame = pd.DataFrame({"a": np.arange(1000, dtype="float64")})
    array = np.ones((10, 7), dtype="int16")
    _, _, store = round_trip({"frame": frame, "array": array})
    for name, data in store.parts.items():
        assert store.announced[name] == len(data), name


def test_a_series_comes_back_as_a_series_with_its_name():
    series = pd.Series([1.0, 2.0], index=pd.Index([10, 20], name="k"), name="price")
    back, tree, _ = round_trip(series)
    assert tree["series"] is True
    pd.testing.assert_series_equal(back, series)


def test_columns_of_mixed_name_types_are_pickled_so_names_keep_their_types():
    frame = pd.DataFrame({"x": [1], 7: [2]})
    back, tree, _ = round_trip(frame)
    assert tree["format"] == "cloudpickle"
    assert list(back.columns) == ["x", 7]


def test_a_modin_frame_carried_as_pandas_keeps_its_marker():
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    back, tree, _ = round_trip(PortableModin(frame=frame, kind="DataFrame"))
    assert tree["modin"] == "DataFrame"
    assert isinstance(back, PortableModin) and back.kind == "DataFrame"
    pd.testing.assert_frame_equal(back.frame, frame)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(6, dtype="float64").reshape(2, 3),
        np.arange(6, dtype="int64").reshape(2, 3).T,  # not C-contiguous
        np.array([1.5, 2.5], dtype="float16"),
        np.zeros((0, 4), dtype="uint8"),
    ],
    ids=["float 2-D", "transposed int", "float16", "empty"],
)
def test_numeric_arrays_are_tensors_with_dtype_and_shape(array):
    back, tree, _ = round_trip(array)
    assert tree["format"] == "arrow-tensor"
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize(
    "array",
    [
        np.array([True, False]),  # a tensor would read it back as uint8
        np.array([1 + 2j], dtype="complex64"),  # no Arrow tensor type
        np.array(["a", None], dtype=object),
        np.array(3.5),
        np.array(["ab", "c"]),
    ],
    ids=["bool", "complex", "object", "0-d", "unicode"],
)
def test_other_arrays_are_pickled_and_keep_their_dtype(array):
    back, tree, _ = round_trip(array)
    assert tree["format"] == "cloudpickle"
    assert back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)


def test_an_xgboost_model_is_stored_in_its_own_format():
    import xgboost

    features = np.random.default_rng(0).normal(size=(64, 3))
    labels = (features[:, 0] > 0).astype(int)
    booster = xgboost.train(
        {"objective": "binary:logistic", "max_depth": 2},
        xgboost.DMatrix(features, label=labels),
        num_boost_round=3,
    )
    back, tree, _ = round_trip(booster)
    assert tree["format"] == "xgboost-ubj"
    check = xgboost.DMatrix(features)
    np.testing.assert_array_equal(back.predict(check), booster.predict(check))


def test_containers_become_a_tree_with_a_part_per_leaf():
    array = np.ones(3)
    value = {"model": [array, (array, "note")], "n": 3}
    back, tree, store = round_trip(value)
    assert tree["kind"] == "dict" and tree["items"]["model"]["kind"] == "list"
    assert tree["items"]["model"]["items"][1]["kind"] == "tuple"
    assert formats(tree) == ["arrow-tensor", "arrow-tensor", "cloudpickle", "cloudpickle"]
    assert len(store.parts) == 4
    assert type(back["model"][1]) is tuple and back["n"] == 3
    np.testing.assert_array_equal(back["model"][1][0], array)


@pytest.mark.parametrize(
    "value",
    [
        Point(np.ones(2), 1),
        OrderedDict([("b", np.ones(2)), ("a", 2)]),
        defaultdict(list, {"k": np.ones(2)}),
    ],
    ids=["namedtuple", "OrderedDict", "defaultdict"],
)
def test_typed_containers_are_pickled_whole_and_come_back_as_their_type(value):
    back, tree, _ = round_trip(value)
    assert tree["format"] == "cloudpickle"
    assert type(back) is type(value)
    assert list(back.keys() if isinstance(back, dict) else back._fields) == list(
        value.keys() if isinstance(value, dict) else value._fields
    )


def test_a_dict_with_keys_json_cannot_hold_is_pickled_whole():
    back, tree, _ = round_trip({1: "a", (2, 3): "b"})
    assert tree["format"] == "cloudpickle"
    assert back == {1: "a", (2, 3): "b"}


def test_a_container_over_max_parts_is_one_part():
    value = list(range(codecs.MAX_PARTS + 1))
    back, tree, store = round_trip(value)
    assert tree["format"] == "cloudpickle" and len(store.parts) == 1
    assert back == value
    _, at_limit, store = round_trip(list(range(codecs.MAX_PARTS)))
    assert at_limit["kind"] == "list" and len(store.parts) == codecs.MAX_PARTS


def test_a_value_that_cannot_be_pickled_is_refused_when_encoded():
    with pytest.raises(TypeError, match="lock"):
        codecs.encode(threading.Lock(), MemoryParts().open_part)


def test_an_unknown_part_format_is_refused_by_name():
    store = MemoryParts()
    store.parts["part-00000.bin"] = b""
    tree = {"kind": "leaf", "format": "parquet-v9", "part": "part-00000.bin", "type": "x"}
    with pytest.raises(ValueError, match="parquet-v9"):
        codecs.decode(tree, store.read_part)


def test_decode_reads_only_the_parts_the_tree_names():
    _, tree, store = round_trip(["a", "b"])
    store.reads.clear()
    codecs.decode(tree, store.read_part)
    assert store.reads == ["part-00000.pkl", "part-00001.pkl"]
