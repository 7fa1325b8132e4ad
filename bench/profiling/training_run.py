"""The run ``python -m bench.profiling.sampling`` samples: xgboost-ray, then plain xgboost.

Same frame, same parameters as bench/suites/training.py; a local Ray of this process (so py-spy's
``--subprocesses`` reaches the actor). Prints ``PHASE name seconds`` lines.
"""

from __future__ import annotations

import argparse
import os
import time

import ray

from bench.lib.higgs_modules import import_higgs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    cores = os.cpu_count() or 2
    higgs = import_higgs()
    train, validation, _ = higgs.model.split(higgs.synthetic.synthetic_higgs(args.rows))
    ray.init(num_cpus=cores, include_dashboard=False, address="local")
    started = time.perf_counter()
    higgs.model.train_xgboost_ray(
        train, validation, rounds=args.rounds, num_actors=1, cpus_per_actor=cores
    )
    print(f"PHASE xgboost-ray 1 actor x {cores} CPUs: {time.perf_counter() - started:.1f} s")
    ray.shutdown()

    import xgboost as xgb

    label = higgs.schema.LABEL
    started = time.perf_counter()
    dtrain = xgb.DMatrix(train.drop(columns=[label]), label=train[label], nthread=cores)
    dvalid = xgb.DMatrix(validation.drop(columns=[label]), label=validation[label], nthread=cores)
    xgb.train(
        {**higgs.model.xgboost_params(False), "nthread": cores},
        dtrain,
        num_boost_round=args.rounds,
        evals=[(dtrain, "train"), (dvalid, "validation")],
        verbose_eval=False,
    )
    print(f"PHASE plain xgboost nthread={cores}: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
