"""Resource arguments become Ray options; bad ones fail with the argument's name."""

from __future__ import annotations

import pytest

from ray_provider.decorators.options import loggable_options, parse_memory, ray_options
from ray_provider.exceptions import RayArgumentError


def options(**overrides):
    arguments = dict(
        name="dag.task",
        num_cpus=1,
        num_gpus=None,
        memory=None,
        resources=None,
        runtime_env=None,
        connection_runtime_env={},
    )
    arguments.update(overrides)
    return ray_options(**arguments)


def test_defaults_reserve_one_cpu():
    assert options() == {"name": "dag.task", "num_cpus": 1}


def test_every_resource_is_passed():
    result = options(
        num_cpus=2,
        num_gpus=0.5,
        memory="2GiB",
        resources={"accelerator_type:T4": 1},
        runtime_env={"env_vars": {"A": "task"}},
        connection_runtime_env={"env_vars": {"A": "conn"}, "pip": ["x"]},
    )
    assert result["num_cpus"] == 2
    assert result["num_gpus"] == 0.5
    assert result["memory"] == 2 * 1024**3
    assert result["resources"] == {"accelerator_type:T4": 1}
    # The task's runtime_env wins key by key over the connection's.
    assert result["runtime_env"] == {"env_vars": {"A": "task"}, "pip": ["x"]}


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1000, 1000), ("500MB", 500_000_000), ("1.5GiB", int(1.5 * 1024**3)), ("64", 64)],
)
def test_memory_sizes(value, expected):
    assert parse_memory(value) == expected


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("num_cpus", -1),
        ("num_cpus", float("nan")),
        ("num_gpus", float("inf")),
        ("memory", float("inf")),
        ("resources", {"GPU_TYPE": float("nan")}),
        ("num_gpus", "one"),
        ("memory", "lots"),
        ("memory", 0),
        ("resources", {"GPU_TYPE": -1}),
        ("resources", ["A100"]),
        ("runtime_env", "pip install x"),
    ],
)
def test_bad_arguments_name_themselves(argument, value):
    with pytest.raises(RayArgumentError, match=argument):
        options(**{argument: value})


def test_the_decorator_keeps_custom_resources_for_ray():
    """BaseOperator has a ``resources`` attribute of its own; ours must not collide with it."""
    from airflow.sdk import dag, task

    @dag(schedule=None)
    def with_resources():
        @task.ray(resources={"doomed": 1}, num_cpus=2, memory="1GiB")
        def work():
            return 1

        work()

    operator = with_resources().get_task("work")
    assert operator.ray_resources == {"doomed": 1}
    assert operator.num_cpus == 2 and operator.memory == "1GiB"


def test_logged_options_show_env_var_names_never_values():
    opts = options(runtime_env={"env_vars": {"AWS_SECRET_ACCESS_KEY": "s3cr3t"}, "pip": ["x"]})
    shown = str(loggable_options(opts))
    assert "AWS_SECRET_ACCESS_KEY" in shown and "s3cr3t" not in shown and "'pip'" in shown
    assert opts["runtime_env"]["env_vars"]["AWS_SECRET_ACCESS_KEY"] == "s3cr3t"  # unchanged
