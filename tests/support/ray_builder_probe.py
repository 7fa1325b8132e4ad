"""A module of the shape Ray's ``MODULE://ADDRESS`` mechanism expects (as ``anyscale://`` has).

A managed Ray service resolves a cluster's name to its endpoint and connects there; this one
looks the name up in the environment (``PROBE_CLUSTER_<NAME>`` = the ``HOST:PORT`` of a Ray
Client server) and records each name it resolved in ``PROBE_BUILDER_MARKER``, so a test can
tell that Ray really went through it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ray.client_builder import ClientBuilder as RayClientBuilder


class ClientBuilder(RayClientBuilder):
    def __init__(self, address: str) -> None:
        name = address.strip("/")
        endpoint = os.environ.get(f"PROBE_CLUSTER_{name.upper().replace('-', '_')}")
        if not endpoint:
            raise ValueError(f"No cluster named {name!r} (set PROBE_CLUSTER_{name.upper()})")
        marker = os.environ.get("PROBE_BUILDER_MARKER")
        if marker:
            with Path(marker).open("a") as file:
                file.write(f"{name} -> {endpoint}\n")
        super().__init__(endpoint)
