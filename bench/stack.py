"""The local platform the benchmarks run against: a Ray head, an S3 server and Airflow.

The same services as the tests and ``make demo`` (``tests.support``), on 127.0.0.1, stopped
by PID when the block ends, whatever happened inside it. The Ray head gets this machine's
cores (not the tests' oversubscribed head) and its dashboard, as a KubeRay head has it.

``python -m bench`` starts one platform and hands it to every benchmark process through a
small JSON file (``--platform``), so the services start once; a benchmark run alone starts
its own. Airflow starts only when a benchmark asks for it, so that training runs on a
machine without an idle scheduler polling beside it.

    with platform_for(args.platform, work_dir) as platform:
        stack = platform.ensure_airflow()
        run_id, state = stack.run_and_wait("higgs_xgboost", conf)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import ROOT
from devstack.airflow_stack import AirflowStack
from devstack.processes import free_port
from devstack.ray_head import RayHead
from devstack.s3_server import S3Server

DAG_SOURCES = (ROOT / "dags", ROOT / "bench" / "dags")


@dataclass
class Platform:
    work_dir: Path
    head: RayHead
    s3: S3Server
    airflow_env: dict[str, str] = field(default_factory=dict)
    airflow: AirflowStack | None = None
    owned: bool = True  # started here (and so stopped here), or attached to

    @property
    def sqlite_path(self) -> Path:
        return self.ensure_airflow().home / "airflow.db"

    def ensure_airflow(self) -> AirflowStack:
        """The Airflow stack (api-server, scheduler, dag-processor), started on first use."""
        if self.airflow is None:
            if not self.owned:
                raise RuntimeError("the shared platform was handed over without Airflow")
            dags = self.work_dir / "dags"
            for source in DAG_SOURCES:
                shutil.copytree(
                    source, dags, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
                )
            stack = AirflowStack(
                home=self.work_dir / "airflow",
                dags_folder=dags,
                extra_env={
                    "AIRFLOW_CONN_RAY_DEFAULT": self.head.connection_json(),
                    "AIRFLOW_CONN_S3_CHECKPOINTS": self.s3.connection_json(),
                    "HOME": str(self.head.temp_dir / "home"),
                    "AIRFLOW__CORE__PARALLELISM": "2",
                    **self.airflow_env,
                },
            )
            self.airflow = stack
            stack.start()
        return self.airflow

    def driver_env(self) -> dict[str, str]:
        """Environment for a process that joins this Ray as a driver (or uses the hooks).

        The head's own HOME and token settings (never ``~/.ray``), the connections the
        provider's hooks read, and an Airflow home of its own.
        """
        env = self.head.env()
        env.update(
            {
                "AIRFLOW_CONN_RAY_DEFAULT": self.head.connection_json(),
                "AIRFLOW_CONN_S3_CHECKPOINTS": self.s3.connection_json(),
                "AIRFLOW_HOME": str(self.work_dir / "driver-airflow"),
                "PYTHONPATH": str(ROOT),
            }
        )
        return env

    def connect_driver(self) -> None:
        """Join this Ray as a driver from this process, through the provider's hook.

        The hook sets Ray's token-auth mode explicitly, which matters when ``ray`` was
        imported before the environment was set (Ray caches the mode at import).
        """
        os.environ.update(self.driver_env())
        from ray_provider.hooks.ray import RayHook

        RayHook().connect()

    @staticmethod
    def disconnect_driver() -> None:
        from ray_provider.client import connect

        connect.disconnect()

    def to_json(self) -> str:
        head, s3 = self.head, self.s3
        state: dict[str, Any] = {
            "work_dir": str(self.work_dir),
            "head": {
                "token": head.token,
                "num_cpus": head.num_cpus,
                "port": head.port,
                "client_port": head.client_port,
                "temp_dir": str(head.temp_dir),
                "dashboard_port": head.dashboard_port,
                "keeper_pid": head.keeper_pid,
            },
            "s3": {
                "port": s3.port,
                "access_key": s3.access_key,
                "secret_key": s3.secret_key,
                "root": str(s3.root),
                "bucket": s3.bucket,
            },
            "airflow": None,
        }
        if self.airflow is not None:
            state["airflow"] = {
                "home": str(self.airflow.home),
                "dags_folder": str(self.airflow.dags_folder),
                "port": self.airflow.port,
            }
        return json.dumps(state, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Platform:
        """Attach to a platform another process started (this one will not stop it)."""
        state = json.loads(text)
        head = RayHead(**{**state["head"], "temp_dir": Path(state["head"]["temp_dir"])})
        s3 = S3Server(**{**state["s3"], "root": Path(state["s3"]["root"])})
        airflow = None
        if state["airflow"]:
            airflow = AirflowStack(
                home=Path(state["airflow"]["home"]),
                dags_folder=Path(state["airflow"]["dags_folder"]),
                port=state["airflow"]["port"],
            )
        return cls(Path(state["work_dir"]), head, s3, airflow=airflow, owned=False)

    def stop(self) -> None:
        """Stop what this process started: Airflow, then S3, then Ray."""
        if not self.owned:
            return
        try:
            if self.airflow is not None:
                self.airflow.stop()
        finally:
            try:
                self.s3.discard()
            finally:
                self.head.discard()


@contextmanager
def local_platform(
    work_dir: Path, *, airflow_env: dict[str, str] | None = None
) -> Iterator[Platform]:
    """Start Ray (token auth and dashboard on) and S3 now, Airflow on demand; stop all."""
    work_dir.mkdir(parents=True, exist_ok=True)
    head = RayHead(num_cpus=os.cpu_count() or 2, dashboard_port=free_port(), keeper=True)
    s3 = S3Server()
    platform = Platform(work_dir, head, s3, airflow_env=dict(airflow_env or {}))
    try:
        head.start()
        s3.start()
        yield platform
    finally:
        platform.stop()


@contextmanager
def platform_for(
    state_file: Path | None, *, airflow_env: dict[str, str] | None = None
) -> Iterator[Platform]:
    """The shared platform described in ``state_file``, or a platform of this process's own."""
    if state_file is not None:
        yield Platform.from_json(state_file.read_text())
        return
    work_dir = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        with local_platform(work_dir, airflow_env=airflow_env) as platform:
            yield platform
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def add_platform_option(parser) -> None:
    parser.add_argument(
        "--platform",
        type=Path,
        default=None,
        help="JSON state of services started by `python -m bench` (default: start our own)",
    )
