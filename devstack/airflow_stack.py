"""Real Airflow 3 processes: api-server, scheduler, dag-processor and triggerer on SQLite.

Tasks run through the scheduler and the LocalExecutor, each in its own process, which is what
shows that a result outlives the task process that produced it (``dag.test()`` cannot).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from devstack.processes import free_port, start, stop_tree, wait_until

BIN = Path(sys.executable).parent
FINISHED = {"success", "failed"}


def new_secret() -> str:
    """A fresh secret for Airflow's JWT signing or the provider's deployment key."""
    return secrets.token_urlsafe(48)


@dataclass
class AirflowStack:
    home: Path
    dags_folder: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    # Generated per stack: Airflow's JWT secret, and the provider's deployment key (signs
    # checkpoint manifests and XCom references; see ray_provider.client.deployment).
    jwt_secret: str = field(default_factory=new_secret)
    deployment_key: str = field(default_factory=new_secret)
    processes: list[subprocess.Popen] = field(default_factory=list)
    _token: str | None = None

    @property
    def deployment_id(self) -> str:
        """The id the provider derives from the deployment key (prefixes keys and paths)."""
        from ray_provider.runtime.signing import key_id

        return key_id(self.deployment_key.encode())

    @property
    def sqlite_path(self) -> Path:
        """Airflow's metadata database (SQLite, in its home)."""
        return self.home / "airflow.db"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__XCOM_BACKEND": "ray_provider.xcom.RayXComBackend",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API_AUTH__JWT_SECRET": self.jwt_secret,
                "AIRFLOW__RAY_PROVIDER__DEPLOYMENT_KEY": self.deployment_key,
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "600",
                # A deferral's timeout (execution_timeout of a deferrable task) is noticed
                # within seconds, not the default 15.
                "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "2",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> AirflowStack:
        self.home.mkdir(parents=True, exist_ok=True)
        env = self.env()
        subprocess.run(
            [str(BIN / "airflow"), "db", "migrate"],
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
        for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
            self.processes.append(
                start([str(BIN / "airflow"), name], self.home / f"{name}.log", env)
            )
        wait_until(self._healthy, 180, "the Airflow api-server to answer")
        return self

    def stop(self) -> None:
        for process in self.processes:
            stop_tree(process.pid)
            process.log_file.close()
        self.processes.clear()

    def _healthy(self) -> bool:
        for process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"an Airflow process exited; see {self.home}/*.log")
        return requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).ok

    # --- REST API -------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        if self._token is None:
            response = requests.get(f"{self.url}/auth/token", timeout=10)
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(
            method, f"{self.url}/api/v2{path}", headers=self._headers(), timeout=30, **kwargs
        )
        if not response.ok:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> None:
        def parsed() -> bool:
            errors = self.api("GET", "/importErrors")["import_errors"]
            if errors:
                raise AssertionError(f"DAG import errors: {errors}")
            return bool(self.api("GET", f"/dags/{dag_id}"))

        wait_until(parsed, timeout, f"DAG {dag_id} to be parsed")

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        self.wait_for_dag(dag_id)
        body = {"logical_date": None, "conf": conf or {}}
        return self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        return wait_until(
            lambda: (state := self.run_state(dag_id, run_id)) in FINISHED and state,
            timeout,
            f"DAG run {dag_id}/{run_id} to finish",
            interval=1.0,
        )

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        data = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti for ti in data["task_instances"]}

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> str:
        """The task's log as text: one line per structured log event."""
        data = self.api(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"full_content": "true", "map_index": map_index},
        )
        content = data.get("content", [])
        if isinstance(content, str):
            return content
        lines = []
        for item in content:
            if isinstance(item, dict):
                extra = {k: v for k, v in item.items() if k not in ("event", "timestamp", "level")}
                lines.append(f"{item.get('level', '')} {item.get('event', '')} {extra or ''}")
            else:
                lines.append(str(item))
        return "\n".join(lines)

    def failure_report(self, dag_id: str, run_id: str, tail_lines: int = 60) -> dict[str, str]:
        """What a failed run's assert shows: each task's state, a failed task's log instead,
        and the end of the scheduler's and triggerer's own logs (a trigger that failed to
        start, or a task the scheduler failed, says so only there)."""
        tis = self.task_instances(dag_id, run_id)
        report = {
            task_id: self._log_tail(dag_id, run_id, task_id, 3 * tail_lines)
            if ti["state"] == "failed"
            else ti["state"]
            for task_id, ti in tis.items()
        }
        for name in ("scheduler", "triggerer"):
            path = self.home / f"{name}.log"
            if path.is_file():
                lines = path.read_text(errors="replace").splitlines()[-tail_lines:]
                report[f"{name}.log"] = "\n".join(lines)
        return report

    def _log_tail(self, dag_id: str, run_id: str, task_id: str, lines: int) -> str:
        """The end of a task's log; a report must not fail where the log cannot be read."""
        try:
            return "\n".join(self.task_log(dag_id, run_id, task_id).splitlines()[-lines:])
        except Exception as exc:
            return f"(its log could not be read: {type(exc).__name__}: {exc})"

    def xcom_raw(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        return self.api(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"deserialize": "false"},
        )["value"]

    def run_and_wait(
        self, dag_id: str, conf: dict[str, Any] | None = None, timeout: float = 300
    ) -> tuple[str, str]:
        run_id = self.trigger(dag_id, conf)
        started = time.monotonic()
        state = self.wait_for_run(dag_id, run_id, timeout)
        print(f"{dag_id}/{run_id}: {state} in {time.monotonic() - started:.1f}s")
        return run_id, state
