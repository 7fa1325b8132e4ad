"""Records, as its task process parses it, which modules the process already had.

The first lines run before this file imports anything heavy: with the provider's preload
(``ray_provider.preload``) the scheduler imported pandas and Ray once, and the forked task
process starts with them.
"""

from __future__ import annotations

import sys

ALREADY_IMPORTED = {name: name in sys.modules for name in ("pandas", "ray")}

from datetime import datetime  # noqa: E402

from airflow.sdk import dag, task  # noqa: E402


@dag(schedule=None, start_date=datetime(2021, 1, 1), catchup=False, tags=["test"])
def preload_probe():
    @task
    def modules_at_parse() -> dict[str, bool]:
        return ALREADY_IMPORTED

    modules_at_parse()


preload_probe()
