"""The HIGGS pipeline as one plain Python script on the same Ray: the overhead baseline.

The same functions the DAG's tasks call (``higgs.sources.load`` and ``higgs.frames.to_modin``,
``higgs.model.split``, ``trainer="auto"`` resolved by ``higgs.trainer_choice`` and that entry of
``TRAINERS``, ``higgs.model.evaluate``), one after the other in one process
that joins the benchmark's Ray head as a driver. The caller times the whole process (start
to exit, as a user running ``python script.py`` would); the script prints its own steps.

    python -m bench.baselines.higgs_script --address 127.0.0.1:6379 --rows 1000000 --rounds 100
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--cpus-per-actor", type=int, default=1)
    args = parser.parse_args(argv)

    import ray

    from bench.lib.higgs_modules import import_higgs

    higgs = import_higgs()
    ray.init(address=args.address, logging_level="WARNING", log_to_driver=False)
    steps = {"startup_and_connect": time.perf_counter() - started}

    mark = time.perf_counter()
    # As the DAG's load_dataframe: load, then hand the frame to modin.
    frame = higgs.frames.to_modin(higgs.sources.load("synthetic", args.rows))
    steps["load"] = time.perf_counter() - mark
    mark = time.perf_counter()
    train, validation, test = higgs.model.split(frame)
    steps["split"] = time.perf_counter() - mark
    mark = time.perf_counter()
    # As the DAG's train_model: trainer="auto" resolved on this cluster, then that trainer.
    choice = higgs.trainer_choice.choose_trainer(
        "auto",
        higgs.trainer_choice.frame_bytes(train, validation),
        use_gpu=False,
        num_actors=args.actors,
        cpus_per_actor=args.cpus_per_actor,
    )
    booster, _, _ = higgs.model.TRAINERS[choice.trainer](
        train,
        validation,
        rounds=args.rounds,
        num_actors=args.actors,
        cpus_per_actor=args.cpus_per_actor,
    )
    steps["train"] = time.perf_counter() - mark
    mark = time.perf_counter()
    metrics = higgs.model.evaluate(booster, test)
    steps["evaluate"] = time.perf_counter() - mark
    ray.shutdown()
    metrics["trainer"] = choice.trainer
    print("BENCH " + json.dumps({"steps": steps, "metrics": metrics}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
