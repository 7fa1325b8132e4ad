"""``ray.init`` through Ray Client, retried when the server fails a handshake it then passes.

The Ray Client server starts one server process per client. On a fresh head, or while it
reaps the process of an earlier client, that process can die at once and the client gets
"Initialization failure from server" (seen on kind: the proxier found its new server a
zombie); a new attempt a moment later succeeds. Every Ray Client connection of the project
goes through here: the hook's (``client.connect``) and the chart's ``helm test`` pod (which
has Ray but no Airflow, hence this module's place in ``runtime/``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import ray

log = logging.getLogger(__name__)

CLIENT_HANDSHAKE_ATTEMPTS = 3
TRANSIENT_FAILURE = "Initialization failure from server"


def init_with_retries(
    address: str,
    *,
    attempts: int = CLIENT_HANDSHAKE_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    **init_kwargs: Any,
) -> Any:
    """``ray.init(address, **init_kwargs)``, again after a transient handshake failure.

    Any other failure, or the last attempt's, is raised as Ray raised it.
    """
    for attempt in range(1, attempts + 1):
        try:
            return ray.init(address=address, **init_kwargs)
        except (ConnectionError, RuntimeError, TimeoutError) as exc:
            if TRANSIENT_FAILURE not in str(exc) or attempt == attempts:
                raise
            log.warning(
                "Ray Client handshake failed (attempt %d/%d), retrying: %s",
                attempt,
                attempts,
                str(exc).splitlines()[0],
            )
            sleep(attempt)
    raise AssertionError("unreachable")
