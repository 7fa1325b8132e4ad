"""Run a callable written as a Ray job's driver (it calls ``ray.init()``) inside a Ray task.

astro-provider-ray ran a ``@ray.task`` function's source as the driver of a Ray job, so its
users' functions start with ``ray.init()``. Inside a Ray task Ray is already initialised and a
second ``ray.init()`` raises "Maybe you called ray.init twice". While such a callable runs,
``ray.init`` returns the current context instead: the function runs unchanged and its tasks
go to the same cluster.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


def tolerate_ray_init(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function``, with ``ray.init()`` a no-op while it runs where Ray is initialised."""

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        import ray

        original = ray.init

        def init(*init_args: Any, **init_kwargs: Any) -> Any:
            if ray.is_initialized():
                return ray.get_runtime_context()
            return original(*init_args, **init_kwargs)

        ray.init = init
        try:
            return function(*args, **kwargs)
        finally:
            ray.init = original

    return run
