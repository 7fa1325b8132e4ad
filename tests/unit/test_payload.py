"""Building a @task.ray payload: upstream slots, the context that may travel, pickling."""

from __future__ import annotations

import sys
import textwrap
import threading
from collections import OrderedDict, namedtuple
from dataclasses import replace

import pytest
from ray import cloudpickle

from ray_provider.client.reference import MARKER, RayResultRef
from ray_provider.decorators.payload import (
    REMOTE_CONTEXT_KEYS,
    build_payload,
    check_requested_context,
    extract_upstream,
    select_context,
)
from ray_provider.exceptions import RayArgumentError, RayReferenceError
from ray_provider.runtime.execute import RefSlot, _substitute

Batch = namedtuple("Batch", ["features", "labels"])
CONTEXT_KEYS = {"ds", "params", "ti", "dag_run", "run_id", "conf"}


def make_ref(task_id: str) -> RayResultRef:
    return RayResultRef(
        deployment="d" * 16,
        dag_id="dag",
        run_id="run",
        task_id=task_id,
        map_index=-1,
        generation="g" * 32,
        namespace="airflow",
        ray_conn_id="ray_default",
    )


def test_references_become_slots_in_order_of_appearance():
    load, split = make_ref("load"), make_ref("split")
    args, kwargs, upstream = extract_upstream([load, 3], {"data": split.to_xcom()})
    assert args == (RefSlot(0), 3)
    assert kwargs == {"data": RefSlot(1)}
    assert upstream == [load, split]


def test_slots_inside_typed_containers_keep_the_container_types():
    load = make_ref("load")
    args, kwargs, upstream = extract_upstream(
        [Batch(load, [load.to_xcom()])], {"options": OrderedDict([("b", 1), ("a", load)])}
    )
    # One result passed three times travels once: every slot names the same argument.
    assert type(args[0]) is Batch and args[0] == Batch(RefSlot(0), [RefSlot(0)])
    assert type(kwargs["options"]) is OrderedDict
    assert list(kwargs["options"].items()) == [("b", 1), ("a", RefSlot(0))]
    assert upstream == [load]
    # What the worker does with them: the same walk, the same types, the values filled in.
    filled = _substitute(args, ("L0",))
    assert filled == (Batch("L0", ["L0"]),) and type(filled[0]) is Batch


def test_item_references_become_slots_of_one_argument_with_their_item():
    load = make_ref("load")
    items = [replace(load, item=i).to_xcom() for i in range(3)]
    args, _, upstream = extract_upstream([items], {})
    assert args == ([RefSlot(0, 0), RefSlot(0, 1), RefSlot(0, 2)],) and upstream[0].item == 0
    assert _substitute(args, (["a", "b", "c"],)) == (["a", "b", "c"],)


def test_arguments_without_references_pass_through_unchanged():
    values = {"n": 1, "nested": {"list": [1, 2]}}
    args, kwargs, upstream = extract_upstream((values,), {"also": values})
    assert args[0] is values and kwargs["also"] is values
    assert upstream == []


def test_a_reference_of_another_format_is_refused_with_the_fix():
    with pytest.raises(RayReferenceError, match="Clear the producing task"):
        extract_upstream([{MARKER: 1, "task_id": "old"}], {})


def test_select_context_keeps_arguments_and_plain_context_only():
    class Params(dict):
        """Airflow's ParamsDict stands in: a dict subclass that must arrive as a dict."""

    kwargs = {
        "rows": 10,
        "ds": "2026-11-30",
        "params": Params(rounds=5),
        "ti": object(),
        "dag_run": object(),
        "conf": "explicit",
    }
    selected = select_context(kwargs, explicit={"rows", "conf"}, context_keys=CONTEXT_KEYS)
    assert selected == {"rows": 10, "ds": "2026-11-30", "params": {"rounds": 5}, "conf": "explicit"}
    assert type(selected["params"]) is dict


def test_asking_for_a_context_value_that_cannot_travel_names_it():
    check_requested_context(["ds", "rows", "params"], CONTEXT_KEYS, "dag.train")
    with pytest.raises(RayArgumentError, match=r"dag\.train.*'ti', 'dag_run'") as error:
        check_requested_context(["ti", "dag_run", "ds"], CONTEXT_KEYS, "dag.train")
    assert "ds_nodash" in str(error.value)  # it lists what may be asked for instead


def test_every_remote_context_key_is_plain_data_by_name():
    assert "ti" not in REMOTE_CONTEXT_KEYS and "params" in REMOTE_CONTEXT_KEYS


def test_the_payload_is_the_pickled_callable_and_arguments():
    payload = build_payload(len, (["a", "b"],), {}, dags_folder=None, task_label="d.t")
    function, args, kwargs = cloudpickle.loads(payload)
    assert function(*args, **kwargs) == 2


def test_an_unpicklable_argument_is_refused_with_the_task_and_the_fix():
    with pytest.raises(RayArgumentError, match=r"d\.t: .*cannot be pickled.*open clients"):
        build_payload(print, (threading.Lock(),), {}, dags_folder=None, task_label="d.t")


def test_functions_from_the_dags_folder_travel_by_value(tmp_path, monkeypatch):
    """Ray workers cannot import the DAG folder, so its modules are pickled by value."""
    (tmp_path / "dag_helpers_for_payload_test.py").write_text(
        textwrap.dedent(
            """
            def double(x):
                return 2 * x
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import dag_helpers_for_payload_test as helpers

    try:
        payload = build_payload(
            helpers.double, (21,), {}, dags_folder=str(tmp_path), task_label="d.t"
        )
    finally:
        cloudpickle.unregister_pickle_by_value(helpers)
        del sys.modules["dag_helpers_for_payload_test"]
    monkeypatch.undo()  # the module can no longer be imported by name
    with pytest.raises(ImportError):
        __import__("dag_helpers_for_payload_test")
    function, args, _ = cloudpickle.loads(payload)
    assert function(*args) == 42


BUNDLE_PREFIX = "bundle_for_payload_test"


@pytest.fixture
def bundle_checkout(tmp_path, monkeypatch):
    """A DAG bundle's checkout, imported as Airflow imports it: a DAG file and a helper package.

    Yields the checkout and the DAG module. Afterwards cloudpickle's by-value registry and
    ``sys.modules`` are as they were.
    """
    checkout = tmp_path / "dag_bundles" / "git_dags" / "versions" / "abc123" / "dags"
    helpers = checkout / f"{BUNDLE_PREFIX}_helpers"
    helpers.mkdir(parents=True)
    (helpers / "__init__.py").write_text("")
    (helpers / "numbers.py").write_text("def magic():\n    return 21\n")
    (checkout / f"{BUNDLE_PREFIX}_dag.py").write_text(
        textwrap.dedent(
            f"""
            from {BUNDLE_PREFIX}_helpers.numbers import magic

            def compute(factor):
                return factor * magic()
            """
        )
    )
    monkeypatch.syspath_prepend(str(checkout))
    dag_module = __import__(f"{BUNDLE_PREFIX}_dag")
    loaded = {name: m for name, m in sys.modules.items() if name.startswith(BUNDLE_PREFIX)}
    assert len(loaded) == 3, loaded  # the DAG module, the package and its submodule
    try:
        yield checkout, dag_module
    finally:
        for name, module in loaded.items():
            try:
                cloudpickle.unregister_pickle_by_value(module)
            except ValueError:  # not registered (the by-reference test)
                pass
            sys.modules.pop(name, None)


def loads_as_on_a_ray_worker(payload: bytes, checkout, monkeypatch) -> tuple:
    """Unpickle where the checkout is neither on ``sys.path`` nor loaded, as on a Ray worker."""
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(checkout)])
    for name in [n for n in sys.modules if n.startswith(BUNDLE_PREFIX)]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ImportError):
        __import__(f"{BUNDLE_PREFIX}_helpers.numbers")
    return cloudpickle.loads(payload)


def test_a_dag_bundles_modules_travel_by_value(bundle_checkout, tmp_path, monkeypatch):
    """A GitDagBundle's checkout is not under dags_folder: its DAG file and helpers go by value.

    The callable is defined in the DAG file and calls the helper package; the worker-like load
    cannot import either, so both travelled in the payload.
    """
    checkout, dag_module = bundle_checkout
    payload = build_payload(
        dag_module.compute,
        (2,),
        {},
        dags_folder=str(tmp_path / "dags"),
        bundle_path=checkout,
        task_label="d.t",
    )
    function, args, _ = loads_as_on_a_ray_worker(payload, checkout, monkeypatch)
    assert function(*args) == 42


def test_without_the_bundle_path_the_helper_is_imported_by_name(
    bundle_checkout, tmp_path, monkeypatch
):
    """What ``bundle_path`` prevents: even with the DAG file by value, its helper goes by name."""
    checkout, dag_module = bundle_checkout
    cloudpickle.register_pickle_by_value(dag_module)
    payload = build_payload(
        dag_module.compute, (2,), {}, dags_folder=str(tmp_path / "dags"), task_label="d.t"
    )
    with pytest.raises(ModuleNotFoundError, match=f"{BUNDLE_PREFIX}_helpers"):
        loads_as_on_a_ray_worker(payload, checkout, monkeypatch)
