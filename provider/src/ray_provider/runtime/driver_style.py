"""Run a callable written as a Ray job's driver (it calls ``ray.init()``) inside a Ray task.

astro-provider-ray ran a ``@ray.task`` function's source as the driver of a Ray job, so its
users' functions start with ``ray.init()``. Inside a Ray task Ray is already initialised: a
second ``ray.init()`` raises "Maybe you called ray.init twice", and a ``ray.shutdown()`` at its
end would take the worker off the cluster. While such a callable runs both are no-ops: the
function runs unchanged and its tasks go to the same cluster.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any


def tolerate_ray_init(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function``, with ``ray.init()`` and ``ray.shutdown()`` no-ops while it runs on Ray.

    Arguments given to ``ray.init`` (a ``runtime_env``, a namespace) cannot apply to a task
    that already runs: they are named on stderr (the task log) rather than dropped silently.
    """

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        import ray

        original_init, original_shutdown = ray.init, ray.shutdown

        def init(*init_args: Any, **init_kwargs: Any) -> Any:
            if not ray.is_initialized():
                return original_init(*init_args, **init_kwargs)
            ignored = [repr(a) for a in init_args] + [f"{k}={v!r}" for k, v in init_kwargs.items()]
            if ignored:
                print(
                    f"ray.init({', '.join(ignored)}) ignored: this function already runs on the "
                    "Ray cluster; give runtime_env and the connection in the task's config",
                    file=sys.stderr,
                )
            return None

        def shutdown(*_args: Any, **_kwargs: Any) -> None:
            """Leaving the cluster would end the task's own worker."""

        ray.init, ray.shutdown = init, shutdown
        try:
            return function(*args, **kwargs)
        finally:
            ray.init, ray.shutdown = original_init, original_shutdown

    return run
