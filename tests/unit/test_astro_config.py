"""astro-provider-ray's @ray.task config and operator arguments, translated or refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ray_provider.compat.astro import config_timeout, translate_config
from ray_provider.exceptions import RayArgumentError


def test_its_config_becomes_task_ray_arguments():
    config = {
        "conn_id": "ray_conn",
        "runtime_env": {"pip": ["numpy"]},
        "num_cpus": 2,
        "num_gpus": 0,
        "memory": 0,
        "resources": {"accelerator": 1},
        "poll_interval": 5,
        "fetch_logs": True,
        "wait_for_completion": True,
        "job_timeout_seconds": 600,
    }
    assert translate_config(config, "t") == {
        "ray_conn_id": "ray_conn",
        "runtime_env": {"pip": ["numpy"]},
        "num_cpus": 2,
        "num_gpus": None,
        "memory": None,
        "resources": {"accelerator": 1},
    }
    assert config_timeout(config) == timedelta(seconds=600)
    assert config_timeout({"job_timeout_seconds": 0}) is None


@pytest.mark.parametrize(
    ("key", "fix"),
    [
        ("entrypoint", "RaySubmitJobOperator"),
        ("ray_cluster_yaml", "SetupRayCluster"),
        ("kuberay_version", "KubeRay is installed once"),
        ("num_cpu", "known keys"),
    ],
)
def test_keys_of_a_job_or_cluster_are_refused_naming_the_fix(key, fix):
    with pytest.raises(RayArgumentError, match=fix) as info:
        translate_config({key: "x"}, "Task 't'")
    assert repr(key) in str(info.value)


def test_its_operators_import_by_their_names():
    from ray_provider.decorators import ray
    from ray_provider.operators import DeleteRayCluster, SetupRayCluster, SubmitRayJob

    assert callable(ray.task)
    job = SubmitRayJob(task_id="job", conn_id="ray_conn", entrypoint="python x.py", runtime_env={})
    # It always deferred there, with a 600 s job timeout.
    assert job.deferrable and job.execution_timeout == timedelta(seconds=600)
    assert job.entrypoint_num_cpus is None and job.ray_conn_id == "ray_conn"
    setup = SetupRayCluster(task_id="c", conn_id="ray_conn", ray_cluster_yaml="ray.yaml")
    delete = DeleteRayCluster(task_id="d", conn_id="ray_conn", ray_cluster_yaml="ray.yaml")
    assert setup.template == "ray.yaml" and setup.is_setup
    assert delete.is_teardown and delete.trigger_rule == "all_done_setup_success"


def test_the_xcom_task_key_is_kept_for_the_task():
    config = translate_config({"xcom_task_key": "SetupRayCluster.dashboard"}, "t")
    assert config == {"xcom_task_key": "SetupRayCluster.dashboard"}
