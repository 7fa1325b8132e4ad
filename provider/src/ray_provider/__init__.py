"""Run Airflow TaskFlow callables on Ray and keep their results in the Ray object store.

``@task.ray`` (registered by this provider) and ``ray_provider.decorators.ray_decorators.ray_task``
submit a callable to Ray through a detached registry actor that owns the result, so the value
outlives the Airflow task process and moves to the next Ray task without touching the worker.
"""

__version__ = "0.1.0"
