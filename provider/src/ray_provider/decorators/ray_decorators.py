"""The original spelling: ``from ray_provider.decorators.ray_decorators import ray_task``.

.. code-block:: python

    task_args = {"ray_conn_id": "ray_cluster", "checkpoint": True, "checkpoint_source": "s3"}

    @ray_task(**task_args)
    def load_dataframe(): ...
"""

from ray_provider.decorators.ray import ray_task

__all__ = ["ray_task"]
