"""trainer="auto": which trainer the HIGGS pipeline picks for a cluster's shape, and why."""

from __future__ import annotations

import pandas as pd
import pytest
from higgs.single_node import NodeShape, task_resources
from higgs.trainer_choice import MEMORY_FACTOR, choose_trainer, frame_bytes

GIB = 2**30
TWO_CPU_NODE = NodeShape(cpus=2, gpus=0, memory=16 * GIB)
EIGHT_CPU_NODE = NodeShape(cpus=8, gpus=0, memory=4 * GIB)
GPU_NODE = NodeShape(cpus=4, gpus=1, memory=32 * GIB)


def choose(data_bytes: int, nodes, *, use_gpu=False, num_actors=2, cpus=1, gpus=1):
    return choose_trainer(
        "auto",
        data_bytes,
        use_gpu=use_gpu,
        num_actors=num_actors,
        cpus_per_actor=cpus,
        gpus_per_actor=gpus,
        nodes=nodes,
    )


def test_data_that_fits_a_node_trains_on_one_node_and_says_why():
    choice = choose(GIB, [TWO_CPU_NODE])
    assert choice.trainer == "xgboost"
    assert "fits one node" in choice.reason and "all 2 CPUs" in choice.reason
    assert "1.00 GiB" in choice.reason


def test_data_too_large_for_any_node_is_sharded_with_the_sizes_named():
    choice = choose(6 * GIB, [TWO_CPU_NODE])
    assert choice.trainer == "xgboost_ray"
    assert f"{6 * MEMORY_FACTOR:.2f} GiB" in choice.reason and "16.00 GiB" in choice.reason


def test_the_memory_that_counts_is_the_largest_cpu_nodes():
    # The roomy node has 2 CPUs, the 8-CPU one 4 GiB: the task goes to the 8-CPU node, so 2 GiB
    # of frames (6 GiB needed) do not fit there even though they would fit the other node.
    choice = choose(2 * GIB, [TWO_CPU_NODE, EIGHT_CPU_NODE])
    assert choice.trainer == "xgboost_ray" and "4.00 GiB" in choice.reason
    assert choose(GIB, [TWO_CPU_NODE, EIGHT_CPU_NODE]).reason.count("all 8 CPUs") == 1


def test_more_cpus_asked_than_one_node_has_still_trains_on_one_node():
    # Measured (bench/results/training_scale_out.md): two 1-CPU nodes' xgboost-ray lost to
    # one node's single-CPU task, so the CPUs asked for do not make auto shard.
    choice = choose(GIB, [TWO_CPU_NODE, TWO_CPU_NODE], num_actors=4, cpus=1)
    assert choice.trainer == "xgboost" and "all 2 CPUs" in choice.reason


def test_no_node_up_yet_leaves_it_to_the_autoscaler():
    assert choose(GIB, []).trainer == "xgboost_ray"
    assert "autoscaler" in choose(GIB, [NodeShape(cpus=0, gpus=0, memory=GIB)]).reason


def test_gpu_training_uses_one_gpu_when_one_is_asked_for():
    choice = choose(GIB, [TWO_CPU_NODE, GPU_NODE], use_gpu=True, num_actors=1)
    assert choice.trainer == "xgboost" and "one GPU" in choice.reason


def test_gpu_training_with_several_gpus_or_none_is_distributed():
    several = choose(GIB, [GPU_NODE], use_gpu=True, num_actors=2)
    assert several.trainer == "xgboost_ray" and "2 GPUs asked for" in several.reason
    assert "num_actors=1" in several.reason
    no_gpu = choose(GIB, [TWO_CPU_NODE], use_gpu=True, num_actors=1)
    assert no_gpu.trainer == "xgboost_ray" and "no alive Ray node has a GPU" in no_gpu.reason


@pytest.mark.parametrize("name", ["xgboost", "xgboost_ray", "ray_train"])
def test_a_named_trainer_is_used_as_asked(name):
    choice = choose_trainer(
        name, 100 * GIB, use_gpu=False, num_actors=64, cpus_per_actor=8, nodes=[]
    )
    assert choice.trainer == name and "asked for" in choice.reason


def test_an_unknown_trainer_names_the_choices():
    with pytest.raises(ValueError, match="auto, xgboost, xgboost_ray, ray_train"):
        choose_trainer("sklearn", 1, use_gpu=False, num_actors=1, cpus_per_actor=1, nodes=[])


def test_frame_bytes_counts_every_frame():
    frame = pd.DataFrame({"a": [1.0] * 1000, "b": [2.0] * 1000}, dtype="float32")
    assert frame_bytes(frame) == 8000 + frame.index.memory_usage()
    assert frame_bytes(frame, frame) == 2 * frame_bytes(frame)


def test_the_single_node_task_reserves_the_largest_nodes_cpus_or_one_gpu():
    assert task_resources([TWO_CPU_NODE, EIGHT_CPU_NODE], use_gpu=False) == {"num_cpus": 8}
    assert task_resources([GPU_NODE], use_gpu=True) == {"num_cpus": 1, "num_gpus": 1}
    with pytest.raises(RuntimeError, match="trainer='xgboost_ray'"):
        task_resources([NodeShape(cpus=0, gpus=0, memory=GIB)], use_gpu=False)
