"""The "Ray dashboard" extra link of ``@task.ray`` task instances.

The link is known only once the Ray task has started (its task id), and a person wants it most
while a long task runs, so ``@task.ray`` pushes it to XCom itself at that moment (``persist``)
instead of waiting for the task to end, when Airflow asks every extra link for its value. The
API server reads it back from XCom by key, without importing this module.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink
from airflow.sdk.bases.xcom import BaseXCom


class RayDashboardLink(BaseOperatorLink):
    """Opens the Ray dashboard's page of the task instance's Ray task."""

    name = "Ray dashboard"

    @property
    def xcom_key(self) -> str:
        return "_link_RayDashboardLink"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return BaseXCom.get_value(ti_key=ti_key, key=self.xcom_key) or ""

    def persist(self, ti: Any, url: str) -> None:
        """Publish the link now (the task is still running)."""
        ti.xcom_push(key=self.xcom_key, value=url)


def dashboard_url(base: str, path: str) -> str:
    """``base`` (the connection's dashboard URL) joined with a dashboard page's path."""
    return f"{base.rstrip('/')}/{path.lstrip('/')}"
