"""The whole local platform, wired once: a Ray head (+ keeper), an S3 server and Airflow.

``make demo``, the benchmarks and the tests all start Ray, S3 and Airflow through
:class:`LocalPlatform`, so the connections Airflow gets, the ``HOME`` its tasks see (the head's,
never ``~/.ray``), the order things start and stop in, and the state another process needs to
attach to a running platform are written here and nowhere else. What they differ in is an
option: worker count, dashboard, keeper, S3 on or off, the DAG folders, Airflow's parallelism,
and whether the platform is a throwaway (random ports, temp dirs, data deleted at stop: the
tests and the benchmarks) or persistent (well-known ports when free, data kept under
``work_dir``: ``make demo``).

Each part starts on its own (``start_ray``, ``start_s3``, ``start_airflow``) because the tests
start only what a test asks for and the benchmarks start Airflow only for the benchmarks that
need it; ``start()`` starts all of it.

    platform = LocalPlatform(work_dir, dashboard=True).start()
    run_id, state = platform.airflow.run_and_wait("higgs_xgboost", conf)
    platform.stop()
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.airflow_stack import AirflowStack, new_secret
from devstack.processes import free_port, pid_alive, port_open, stop_tree
from devstack.ray_head import RayHead
from devstack.s3_server import S3Server

ROOT = Path(__file__).resolve().parents[1]
PROJECT_DAGS = ROOT / "dags"
# Ports a persistent platform (``make demo``) takes when they are free: Ray's, Ray Client's,
# the dashboard's, MinIO's and Airflow's usual ones, so the URLs it prints look familiar.
WELL_KNOWN_PORTS = {
    "ray": 6379,
    "ray_client": 10001,
    "dashboard": 8265,
    "s3": 9000,
    "airflow": 8080,
}


def _quiet(message: str) -> None:
    """The default progress reporter: the tests and benchmarks print nothing while starting."""


def _port(persistent: bool, name: str) -> int:
    """A well-known port when persistent and free, else any free port."""
    wanted = WELL_KNOWN_PORTS[name]
    return wanted if persistent and not port_open(wanted) else free_port()


@dataclass
class LocalPlatform:
    """Ray (token auth on), S3 and Airflow on 127.0.0.1, started and stopped by PID.

    :param work_dir: Airflow's home (``airflow/``), the copied DAG folder (``dags/``), the
        drivers' Airflow home; for a persistent platform also the S3 data (``s3/``).
    :param dags: DAG folders; one is used as it is, several are copied side by side into
        ``work_dir/dags``.
    :param num_cpus: CPUs the Ray head offers (its worker count).
    :param dashboard: start the Ray dashboard (the demo and the benchmarks, as KubeRay has it).
    :param keeper: start ``ray_provider.cli.keeper`` after the head, as a deployment does.
    :param s3_enabled: run an S3 server for checkpoints.
    :param parallelism: Airflow's ``core.parallelism``.
    :param persistent: keep data and ports across restarts (``make demo``): well-known ports
        when free, S3 data under ``work_dir/s3``, nothing deleted at stop.
    :param deployment_key: the provider's deployment key (signs checkpoints and references).
    :param say: where progress lines go (the demo prints them).
    """

    work_dir: Path
    dags: Sequence[Path] = (PROJECT_DAGS,)
    num_cpus: int = field(default_factory=lambda: os.cpu_count() or 2)
    dashboard: bool = False
    keeper: bool = True
    s3_enabled: bool = True
    parallelism: int = 4
    persistent: bool = False
    deployment_key: str | None = None
    say: Callable[[str], None] = _quiet
    # Built from the options above unless given (``attach`` gives them).
    head: RayHead | None = None
    s3: S3Server | None = None
    airflow_port: int | None = None
    jwt_secret: str | None = None
    airflow: AirflowStack | None = None
    _running: set[str] = field(default_factory=set, init=False, repr=False)
    _attached: bool = field(default=False, init=False, repr=False)
    _attached_pids: dict[str, list[int]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.work_dir = Path(self.work_dir)
        if self.persistent:
            # The work dir holds the platform's keys and data: its owner's only.
            self.work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.work_dir.chmod(0o700)
        else:
            self.work_dir.mkdir(parents=True, exist_ok=True)
        if self.head is None:
            self.head = self._new_head()
        if self.s3 is None and self.s3_enabled:
            self.s3 = self._new_s3()
        if self.airflow_port is None:
            self.airflow_port = _port(self.persistent, "airflow")
        # Generated per platform, and kept here so that its state (the demo's state file)
        # holds the ones its Airflow runs with.
        self.jwt_secret = self.jwt_secret or new_secret()
        self.deployment_key = self.deployment_key or new_secret()

    def _new_head(self) -> RayHead:
        dashboard_port = _port(self.persistent, "dashboard") if self.dashboard else None
        if not self.persistent:
            return RayHead(num_cpus=self.num_cpus, dashboard_port=dashboard_port)
        # Named once per checkout and recorded in the state, so a later `make demo-stop` finds
        # every process of this head by it.
        temp_dir = Path(f"/tmp/ray-demo-{abs(hash(str(ROOT))) % 10**8}")
        temp_dir.mkdir(exist_ok=True)
        return RayHead(
            num_cpus=self.num_cpus,
            port=_port(True, "ray"),
            client_port=_port(True, "ray_client"),
            temp_dir=temp_dir,
            dashboard_port=dashboard_port,
        )

    def _new_s3(self) -> S3Server:
        if not self.persistent:
            return S3Server()
        # MinIO's data (``s3/`` held rclone's files before: MinIO does not read those).
        root = self.work_dir / "minio"
        root.mkdir(exist_ok=True)
        return S3Server(port=_port(True, "s3"), access_key=f"demo{secrets.token_hex(8)}", root=root)

    # --- starting ---------------------------------------------------------------------------
    def start(self) -> LocalPlatform:
        """Start Ray (and the keeper), S3 (when enabled) and Airflow, in that order."""
        self.start_airflow()
        return self

    def start_ray(self) -> RayHead:
        """Start the Ray head, then the keeper; a no-op when it already runs."""
        if "ray" not in self._running:
            self.say(f"==> starting Ray (head on {self.head.address}, token auth on)")
            self.head.start()
            self._running.add("ray")
            if self.keeper:
                self.say(
                    "==> starting ray_provider.cli.keeper (keeps Ray workers warm between tasks)"
                )
                self.head.start_keeper()
        return self.head

    def start_s3(self) -> S3Server:
        """Start the S3 server with the checkpoint bucket; a no-op when it already runs."""
        if self.s3 is None:
            raise RuntimeError("this platform has no S3 server: create it with s3_enabled=True")
        if "s3" not in self._running:
            self.say(f"==> starting the S3 server ({self.s3.name}) on 127.0.0.1:{self.s3.port}")
            self.s3.start()
            self._running.add("s3")
        return self.s3

    def start_airflow(self, extra_env: dict[str, str] | None = None) -> AirflowStack:
        """Start Airflow (after Ray and S3, which it is pointed at); returns the running one.

        :param extra_env: more environment for Airflow's processes, e.g. connections to
            services that are not part of the platform; used only by the call that starts it.
        """
        if self.airflow is not None:
            return self.airflow
        if self._attached:
            raise RuntimeError(
                "this platform was attached without Airflow: start Airflow in the process that "
                "started the platform (python -m bench does, for the benchmarks that need it)"
            )
        self.start_ray()
        if self.s3 is not None:
            self.start_s3()
        self.say(
            "==> starting Airflow (db migrate, api-server, scheduler, dag-processor, triggerer)"
        )
        stack = AirflowStack(
            home=self.work_dir / "airflow",
            dags_folder=self.dags_folder(),
            port=self.airflow_port,
            jwt_secret=self.jwt_secret,
            deployment_key=self.deployment_key,
            extra_env={**self.airflow_env(), **(extra_env or {})},
        )
        self.airflow = stack
        stack.start()
        self._running.add("airflow")
        return stack

    def airflow_env(self) -> dict[str, str]:
        """What any Airflow pointed at this platform runs with (a test's own stack too).

        The connections to the parts that run, the head's HOME (never ``~/.ray``) and the
        platform's parallelism.
        """
        return {
            **self.connections(),
            "HOME": str(self.head.home),
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
        }

    def dags_folder(self) -> Path:
        """The folder Airflow parses: the one given, or the given ones copied side by side."""
        if len(self.dags) == 1:
            return Path(self.dags[0])
        folder = self.work_dir / "dags"
        for source in self.dags:
            shutil.copytree(
                source, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
            )
        return folder

    # --- reaching it ------------------------------------------------------------------------
    def connections(self) -> dict[str, str]:
        """``AIRFLOW_CONN_*`` for the parts that run: ``ray_default``, ``s3_checkpoints``."""
        conns = {}
        if "ray" in self._running:
            conns["AIRFLOW_CONN_RAY_DEFAULT"] = self.head.connection_json()
        if "s3" in self._running:
            conns["AIRFLOW_CONN_S3_CHECKPOINTS"] = self.s3.connection_json()
        return conns

    def driver_env(self) -> dict[str, str]:
        """Environment for a process that joins this Ray as a driver (or uses the hooks).

        The head's own HOME and token settings (never ``~/.ray``), the connections the
        provider's hooks read, an Airflow home of its own, and this checkout on the path.
        """
        env = self.head.env()
        env.update(self.connections())
        env["AIRFLOW_HOME"] = str(self.work_dir / "driver-airflow")
        env["PYTHONPATH"] = str(ROOT)
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

    # --- handing over -----------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """What another process needs to attach to this platform, or to stop it by PID.

        Flat keys, the same as ``make demo``'s state file has always had, plus the paths.
        Holds the platform's secrets: write it where only its owner can read.
        """
        head, s3, stack = self.head, self.s3, self.airflow
        return {
            "work_dir": str(self.work_dir),
            "persistent": self.persistent,
            "parallelism": self.parallelism,
            "ray_token": head.token,
            "ray_num_cpus": head.num_cpus,
            "ray_port": head.port,
            "ray_client_port": head.client_port,
            "dashboard_port": head.dashboard_port,
            "ray_temp_dir": str(head.temp_dir),
            "keeper_pid": head.keeper_pid,
            "s3_port": s3.port if s3 else None,
            "s3_access_key": s3.access_key if s3 else None,
            "s3_secret_key": s3.secret_key if s3 else None,
            "s3_root": str(s3.root) if s3 else None,
            "s3_console_port": s3.console_port if s3 else None,
            "s3_bucket": s3.bucket if s3 else None,
            "s3_pid": s3.process.pid if s3 and s3.process else None,
            "airflow_port": self.airflow_port,
            "jwt_secret": self.jwt_secret,
            "deployment_key": self.deployment_key,
            "airflow_home": str(stack.home) if stack else None,
            "dags_folder": str(stack.dags_folder) if stack else None,
            "airflow_pids": [p.pid for p in stack.processes] if stack else [],
        }

    @classmethod
    def attach(cls, state: dict[str, Any]) -> LocalPlatform:
        """The platform another process started, from its :meth:`state`; starts nothing.

        ``stop()`` on it stops that platform by the recorded PIDs (``make demo-stop``); the
        benchmark processes that attach never call it.
        """
        head = RayHead(
            token=state["ray_token"],
            num_cpus=state["ray_num_cpus"],
            port=state["ray_port"],
            client_port=state["ray_client_port"],
            temp_dir=Path(state["ray_temp_dir"]),
            dashboard_port=state["dashboard_port"],
            keeper_pid=state.get("keeper_pid"),
        )
        s3 = None
        if state.get("s3_port"):
            s3 = S3Server(
                bucket=state["s3_bucket"],
                port=state["s3_port"],
                access_key=state["s3_access_key"],
                secret_key=state["s3_secret_key"],
                root=Path(state["s3_root"]),
                # A state written before MinIO: its server had no console port.
                console_port=state.get("s3_console_port") or free_port(),
            )
        platform = cls(
            work_dir=Path(state["work_dir"]),
            num_cpus=state["ray_num_cpus"],
            dashboard=state["dashboard_port"] is not None,
            keeper=state.get("keeper_pid") is not None,
            s3_enabled=s3 is not None,
            parallelism=state["parallelism"],
            persistent=state["persistent"],
            deployment_key=state["deployment_key"],
            head=head,
            s3=s3,
            airflow_port=state["airflow_port"],
            jwt_secret=state["jwt_secret"],
        )
        platform._attached = True
        platform._running = {"ray"} | ({"s3"} if s3 else set())
        platform._attached_pids = {
            "s3": [state["s3_pid"]] if state.get("s3_pid") else [],
            "airflow": list(state.get("airflow_pids") or []),
        }
        if platform._attached_pids["airflow"]:
            platform._running.add("airflow")
            platform.airflow = AirflowStack(
                home=Path(state["airflow_home"]),
                dags_folder=Path(state["dags_folder"]),
                port=state["airflow_port"],
                jwt_secret=state["jwt_secret"],
                deployment_key=state["deployment_key"],
            )
        return platform

    def is_running(self) -> bool:
        """Every recorded process alive and Ray's and Airflow's ports answering."""
        pids = [pid for pids in self._attached_pids.values() for pid in pids]
        pids += [self.head.keeper_pid] if self.head.keeper_pid else []
        ports = [self.head.port] + ([self.airflow_port] if "airflow" in self._running else [])
        return all(pid_alive(pid) for pid in pids) and all(port_open(port) for port in ports)

    # --- stopping ---------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop Airflow, then S3, then Ray, whatever fails on the way; keep data if persistent."""
        try:
            self.stop_airflow()
        finally:
            try:
                self.stop_s3()
            finally:
                self.stop_ray()

    def stop_airflow(self) -> None:
        if self.airflow is not None:
            self.airflow.stop()
        for pid in self._attached_pids.pop("airflow", []):
            stop_tree(pid)
        self.airflow = None
        self._running.discard("airflow")

    def stop_s3(self) -> None:
        """Stop the S3 server if it runs; delete its data unless persistent."""
        if self.s3 is None:
            return
        for pid in self._attached_pids.pop("s3", []):
            stop_tree(pid)
        if "s3" in self._running:
            self.s3.stop()
            self._running.discard("s3")
        if not self.persistent:
            shutil.rmtree(self.s3.root, ignore_errors=True)
            shutil.rmtree(self.s3.home, ignore_errors=True)

    def stop_ray(self) -> None:
        """Stop every process of the head (the keeper too); delete its files unless persistent."""
        if "ray" in self._running:
            self.head.stop()
            self._running.discard("ray")
        if not self.persistent:
            shutil.rmtree(self.head.temp_dir, ignore_errors=True)
