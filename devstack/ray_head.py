"""A real Ray head: ``ray start --head`` on 127.0.0.1, stopped by PID afterwards.

Each head gets its own temp dir and HOME, so nothing depends on ``~/.ray`` (token auth files)
or on another head running on the machine. Every process of the head mentions its temp dir on
its command line, which is how it is stopped without touching other Ray instances.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from devstack.processes import free_port, processes_matching, stop_all

RAY_BIN = str(Path(sys.executable).with_name("ray"))
# Ray kills an idle worker process after 1 s once a node has more workers than CPUs, and a
# distributed training's actors push it over that. The next single-node training then waits
# for a new worker to import xgboost (3-4 s on 2 cores: it imports scikit-learn), a quarter of
# a 1M-row training. Five minutes keeps a warm worker between trainings (measured in
# bench/results/training.md); the Helm chart sets the same for its Ray pods (ray.env).
IDLE_WORKER_KEEP_MS = "300000"


@dataclass
class RayHead:
    token: str | None = field(default_factory=lambda: secrets.token_hex(16))
    num_cpus: int = 2
    port: int = field(default_factory=free_port)
    client_port: int = field(default_factory=free_port)
    temp_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="rt", dir="/tmp")))
    object_store_bytes: int | None = None
    dashboard_port: int | None = None  # None: no dashboard (tests); the demo turns it on
    # Start ``ray_provider.cli.keeper`` after the head (as a deployment does), so @task.ray
    # callables reuse warm worker processes; fault tests that restart Ray leave it off.
    keeper: bool = False
    keeper_pid: int | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def client_address(self) -> str:
        return f"ray://127.0.0.1:{self.client_port}"

    @property
    def home(self) -> Path:
        """The HOME of every process of this head (and of Airflow's tasks): never ``~/.ray``."""
        return self.temp_dir / "home"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        self.home.mkdir(exist_ok=True)
        env["HOME"] = str(self.home)
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        # `python` in a Ray job's entrypoint is this Ray's Python, as it is in a Ray image.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env.setdefault("RAY_idle_worker_killing_time_threshold_ms", IDLE_WORKER_KEEP_MS)
        if self.token:
            env["RAY_AUTH_MODE"] = "token"
            env["RAY_AUTH_TOKEN"] = self.token
        else:
            env["RAY_AUTH_MODE"] = "disabled"
            env.pop("RAY_AUTH_TOKEN", None)
        return env

    def start(self) -> RayHead:
        command = [
            RAY_BIN,
            "start",
            "--head",
            f"--port={self.port}",
            f"--ray-client-server-port={self.client_port}",
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={self.num_cpus}",
            f"--temp-dir={self.temp_dir}",
            "--disable-usage-stats",
        ]
        if self.dashboard_port:
            command += [
                "--include-dashboard=true",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={self.dashboard_port}",
            ]
        else:
            command.append("--include-dashboard=false")
        if self.object_store_bytes:
            command.append(f"--object-store-memory={self.object_store_bytes}")
        for attempt in (1, 2):
            result = subprocess.run(
                command, env=self.env(), capture_output=True, text=True, timeout=180, check=False
            )
            if result.returncode == 0:
                if self.keeper:
                    self.start_keeper()
                return self
            self.stop()
            # On a loaded 2-core machine the raylet can miss ray's 50 s startup deadline.
            if attempt == 1 and "timed out during startup" in result.stderr:
                continue
            break
        raise RuntimeError(f"ray start failed:\n{result.stdout}\n{result.stderr}")

    @property
    def keeper_log(self) -> Path:
        return self.temp_dir / "keeper.log"

    def start_keeper(
        self,
        namespace: str = "airflow",
        timeout: float = 120.0,
        check_seconds: float = 10.0,
        wait_ready: bool = True,
    ) -> int:
        """Start ``python -m ray_provider.cli.keeper`` for this head; returns its PID (once ready).

        Its command line names this head's port, so ``stop()`` stops it with the head.
        """
        import time

        log = self.keeper_log.open("ab")
        offset = self.keeper_log.stat().st_size
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ray_provider.cli.keeper",
                f"--namespace={namespace}",
                f"--check-seconds={check_seconds}",
                f"--address={self.address}",
            ],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while wait_ready and b"keeper ready" not in self.keeper_log.read_bytes()[offset:]:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(
                    f"ray_provider.cli.keeper did not become ready:\n{self.keeper_log.read_text()}"
                )
            time.sleep(0.2)
        self.keeper_pid = process.pid
        return process.pid

    def stop_keeper(self) -> None:
        """Stop the keeper (SIGTERM, by PID); the registry and its results stay."""
        if self.keeper_pid is not None and psutil.pid_exists(self.keeper_pid):
            stop_all([psutil.Process(self.keeper_pid)])
        self.keeper_pid = None

    def add_worker_node(self, resources: dict[str, float], num_cpus: int = 1) -> int:
        """Join a second raylet on this machine; returns its node manager port (its name).

        It shares the head's temp dir, so ``stop()`` stops it with the head.
        """
        import json

        node_port = free_port()
        result = subprocess.run(
            [
                RAY_BIN,
                "start",
                f"--address={self.address}",
                "--node-ip-address=127.0.0.1",
                f"--num-cpus={num_cpus}",
                f"--resources={json.dumps(resources)}",
                f"--node-manager-port={node_port}",
                f"--temp-dir={self.temp_dir}",
                "--disable-usage-stats",
            ],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"ray start (worker node) failed:\n{result.stderr}")
        return node_port

    def kill_worker_node(self, node_port: int) -> None:
        """SIGKILL a worker node's raylet and everything it started: the node is lost."""
        flag = f"--node_manager_port={node_port}"
        raylets = processes_matching(lambda cmdline: flag in cmdline)
        if not raylets:
            raise RuntimeError(f"no raylet with {flag} is running")
        doomed = list(raylets)
        for raylet in raylets:
            doomed += raylet.children(recursive=True)
        for proc in doomed:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(doomed, timeout=30)

    def _is_mine(self, cmdline: list[str]) -> bool:
        # Ray rewrites 127.0.0.1 to the node IP in some command lines, so match the port.
        return any(str(self.temp_dir) in arg or arg.endswith(f":{self.port}") for arg in cmdline)

    def processes(self) -> list[psutil.Process]:
        """Every process of this head (its own, and their children such as agents)."""
        found = {p.pid: p for p in processes_matching(self._is_mine)}
        for proc in list(found.values()):
            try:
                found.update({c.pid: c for c in proc.children(recursive=True)})
            except psutil.Error:  # exited meanwhile
                pass
        return list(found.values())

    def stop(self) -> None:
        stop_all(self.processes())
        left = self.processes()
        if left:
            raise RuntimeError(f"Ray head processes survived stop: {[p.pid for p in left]}")

    def discard(self) -> None:
        """Stop the head and delete its temp dir (logs, spilled objects)."""
        self.stop()
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def connection_json(self, address: str | None = None, extra: dict | None = None) -> str:
        import json

        conn: dict = {"conn_type": "ray", "host": address or self.address}
        if self.token:
            conn["password"] = self.token
        if self.dashboard_port:
            # Links and the Jobs API go to the dashboard's real port, not the usual 8265.
            dashboard = f"http://127.0.0.1:{self.dashboard_port}"
            extra = {"dashboard_url": dashboard, "jobs_api_url": dashboard, **(extra or {})}
        if extra:
            conn["extra"] = extra
        return json.dumps(conn)
