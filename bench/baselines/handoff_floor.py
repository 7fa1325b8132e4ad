"""The handoff floor: a new driver process ``ray.get``s a result the registry already owns.

Run as its own process for every sample (``python -m bench.baselines.handoff_floor ADDRESS NAMESPACE
KEY``), because "a new driver" is the situation of an Airflow task: nothing cached, the object
never seen by this process. Prints one JSON line: seconds to connect (``ray.init``), to find
the registry actor and borrow the ref from it (what our consumer does too), and from
``ray.get`` to holding the frame (the floor).
"""

from __future__ import annotations

import json
import sys
import time


def main(argv: list[str]) -> int:
    address, namespace, key, generation = argv
    # A consumer task's worker has pandas imported before it receives the frame; a fresh
    # driver would otherwise spend its first ``ray.get`` importing pandas to unpickle it.
    import pandas  # noqa: F401

    started = time.perf_counter()
    import ray

    from ray_provider.runtime.keys import REGISTRY_ACTOR_NAME

    ray.init(address=address, namespace=namespace, logging_level="ERROR", log_to_driver=False)
    connected = time.perf_counter()
    registry = ray.get_actor(REGISTRY_ACTOR_NAME, namespace=namespace)
    [ref] = ray.get(registry.lookup.remote(key, generation))
    looked_up = time.perf_counter()
    frame = ray.get(ref)
    shape = frame.shape  # the same touch as the benchmark's consumer tasks
    received = time.perf_counter()
    print(
        json.dumps(
            {
                "connect_s": connected - started,
                "lookup_s": looked_up - connected,
                "get_s": received - looked_up,
                "shape": shape,
            }
        )
    )
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
