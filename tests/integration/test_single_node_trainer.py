"""trainer="xgboost" on the real Ray head: one task holding the node, the model plain XGBoost makes.

The pipeline's helpers travel to Ray by value, as they do from the DAG folder.
"""

from __future__ import annotations

import pytest

from bench.baselines.plain_xgboost import train_plain
from bench.lib.higgs_modules import import_higgs

ROWS, ROUNDS = 20_000, 5


@pytest.fixture(scope="module")
def higgs(hook):
    return import_higgs()


@pytest.fixture(scope="module")
def data(higgs):
    return higgs.model.split(higgs.synthetic.synthetic_higgs(ROWS, seed=3))


def test_single_node_trainer_makes_the_model_plain_xgboost_makes(higgs, data, ray_head):
    train, validation, test = data
    booster, history, seconds = higgs.model.TRAINERS["xgboost"](train, validation, rounds=ROUNDS)

    assert set(history) == {"train", "validation"}
    assert len(history["validation"]["logloss"]) == ROUNDS and seconds > 0
    plain, _ = train_plain(train, validation, ROUNDS, nthread=ray_head.num_cpus)
    ours, theirs = higgs.model.evaluate(booster, test), higgs.model.evaluate(plain, test)
    assert ours["auc"] > 0.7
    assert ours["auc"] == pytest.approx(theirs["auc"], abs=1e-3)


def test_the_training_task_holds_every_cpu_of_the_node(higgs, ray_head):
    nodes = higgs.single_node.cluster_nodes()
    assert higgs.single_node.task_resources(nodes, use_gpu=False) == {"num_cpus": ray_head.num_cpus}


def test_auto_picks_the_single_node_trainer_for_data_this_size(higgs, data):
    train, validation, _ = data
    choice = higgs.trainer_choice.choose_trainer(
        "auto",
        higgs.trainer_choice.frame_bytes(train, validation),
        use_gpu=False,
        num_actors=2,
        cpus_per_actor=1,
    )
    assert choice.trainer == "xgboost", choice.reason


def test_auto_shards_what_one_node_cannot_hold(higgs):
    nodes = higgs.single_node.cluster_nodes()
    too_big = int(max(node.memory for node in nodes))  # x MEMORY_FACTOR: over any node
    choice = higgs.trainer_choice.choose_trainer(
        "auto", too_big, use_gpu=False, num_actors=2, cpus_per_actor=1
    )
    assert choice.trainer == "xgboost_ray" and "task memory" in choice.reason
