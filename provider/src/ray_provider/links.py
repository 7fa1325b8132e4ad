"""The extra links of the provider's tasks: "Ray dashboard" (``@task.ray``), "Ray job" (jobs).

A link is known only once Ray has the work (the Ray task's id, the job's submission id), and a
person wants it most while a long task runs, so the task pushes it to XCom itself at that
moment (``persist``) instead of waiting for the task to end, when Airflow asks every extra
link for its value. The API server reads it back from XCom by key, without importing this
module.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink
from airflow.sdk.bases.xcom import BaseXCom


class PublishedLink(BaseOperatorLink):
    """A link the task publishes to XCom while it runs (see the module docstring)."""

    @property
    def xcom_key(self) -> str:
        return f"_link_{type(self).__name__}"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return BaseXCom.get_value(ti_key=ti_key, key=self.xcom_key) or ""

    def persist(self, ti: Any, url: str) -> None:
        """Publish the link now (the task is still running)."""
        ti.xcom_push(key=self.xcom_key, value=url)


class RayDashboardLink(PublishedLink):
    """Opens the Ray dashboard's page of the task instance's Ray task."""

    name = "Ray dashboard"


class RayJobLink(PublishedLink):
    """Opens the Ray dashboard's page of the job the task submitted."""

    name = "Ray job"


def dashboard_url(base: str, path: str) -> str:
    """``base`` (the connection's dashboard URL) joined with a dashboard page's path."""
    return f"{base.rstrip('/')}/{path.lstrip('/')}"


def job_url(base: str, job_id: str) -> str:
    """The dashboard's page of one job (it takes the submission id as the job's name)."""
    return dashboard_url(base, f"#/jobs/{job_id}")
