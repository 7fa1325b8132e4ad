"""``make demo``: the HIGGS pipeline end to end on this machine, no Kubernetes.

Starts (or reuses, when a previous ``make demo`` left them running) a local Ray head with the
dashboard, an S3 server (rclone) with the checkpoint bucket, and Airflow (api-server,
scheduler, dag-processor; SQLite; connections from environment variables); triggers the
``higgs_xgboost`` DAG through the scheduler, shows its progress, and prints the metrics and the
URLs. The same local services the tests use. ``make demo-stop`` stops them by PID.

    python -m devstack.demo [run|stop] [--rows N] [--source S] [--rounds R] ...
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path

from devstack.airflow_stack import AirflowStack
from devstack.processes import free_port, pid_alive, port_open, stop_tree
from devstack.ray_head import RayHead
from devstack.s3_server import S3Server

ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = ROOT / ".demo"
STATE_FILE = STATE_DIR / "state.json"
DAG_ID = "higgs_xgboost"


def _preferred(port: int) -> int:
    return port if not port_open(port) else free_port()


def _load_state() -> dict | None:
    if not STATE_FILE.exists():
        return None
    state = json.loads(STATE_FILE.read_text())
    pids = state["airflow_pids"] + [state["s3_pid"], state.get("keeper_pid", 0)]
    alive = all(pid_alive(pid) for pid in pids)
    if alive and port_open(state["ray_port"]) and port_open(state["airflow_port"]):
        return state
    print("==> a previous demo is only partly running: stopping what is left of it")
    stop()
    return None


def _head(state: dict) -> RayHead:
    return RayHead(
        token=state["ray_token"],
        num_cpus=os.cpu_count() or 2,
        port=state["ray_port"],
        client_port=state["ray_client_port"],
        temp_dir=Path(state["ray_temp_dir"]),
        dashboard_port=state["dashboard_port"],
    )


def _s3(state: dict) -> S3Server:
    return S3Server(
        port=state["s3_port"],
        access_key=state["s3_access_key"],
        secret_key=state["s3_secret_key"],
        root=STATE_DIR / "s3",
    )


def _stack(state: dict) -> AirflowStack:
    head, s3 = _head(state), _s3(state)
    return AirflowStack(
        home=STATE_DIR / "airflow",
        dags_folder=ROOT / "dags",
        port=state["airflow_port"],
        jwt_secret=state["jwt_secret"],
        deployment_key=state["deployment_key"],
        extra_env={
            "AIRFLOW_CONN_RAY_DEFAULT": head.connection_json(),
            "AIRFLOW_CONN_S3_CHECKPOINTS": s3.connection_json(),
            "HOME": str(head.temp_dir / "home"),
            "AIRFLOW__CORE__PARALLELISM": "2",
        },
    )


def start() -> dict:
    state = _load_state()
    if state is not None:
        print(f"==> reusing the running demo services (Airflow on port {state['airflow_port']})")
        return state
    STATE_DIR.mkdir(mode=0o700, exist_ok=True)
    STATE_DIR.chmod(0o700)
    (STATE_DIR / "s3").mkdir(exist_ok=True)
    state = {
        "ray_token": secrets.token_hex(16),
        "ray_port": _preferred(6379),
        "ray_client_port": _preferred(10001),
        "dashboard_port": _preferred(8265),
        "ray_temp_dir": f"/tmp/ray-demo-{abs(hash(str(ROOT))) % 10**8}",
        "s3_port": _preferred(9000),
        "s3_access_key": "demo" + secrets.token_hex(8),
        "s3_secret_key": secrets.token_hex(16),
        "airflow_port": _preferred(8080),
        "jwt_secret": secrets.token_urlsafe(48),
        "deployment_key": secrets.token_urlsafe(48),
    }
    Path(state["ray_temp_dir"]).mkdir(exist_ok=True)
    print(f"==> starting Ray (head on 127.0.0.1:{state['ray_port']}, token auth on)", flush=True)
    head = _head(state).start()
    print("==> starting ray_provider.cli.keeper (keeps Ray workers warm between tasks)", flush=True)
    state["keeper_pid"] = head.start_keeper()
    print(f"==> starting the S3 server (rclone) on 127.0.0.1:{state['s3_port']}", flush=True)
    s3 = _s3(state).start()
    state["s3_pid"] = s3.process.pid
    print("==> starting Airflow (db migrate, api-server, scheduler, dag-processor)", flush=True)
    stack = _stack(state).start()
    state["airflow_pids"] = [p.pid for p in stack.processes]
    _write_private(STATE_FILE, json.dumps(state, indent=2))
    return state


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read: the state holds the demo's keys and tokens."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def stop() -> None:
    if not STATE_FILE.exists():
        print("==> no demo is running")
        return
    state = json.loads(STATE_FILE.read_text())
    for pid in state.get("airflow_pids", []):
        stop_tree(pid)
    if state.get("s3_pid"):
        stop_tree(state["s3_pid"])
    _head(state).stop()
    STATE_FILE.unlink()
    print("==> stopped Airflow, the S3 server and Ray (data kept in .demo/)")


def run(conf: dict) -> int:
    state = start()
    stack = _stack(state)
    print(f"==> triggering {DAG_ID} with {json.dumps(conf)}", flush=True)
    run_id = stack.trigger(DAG_ID, conf)
    started, seen = time.monotonic(), {}
    while True:
        tis = stack.task_instances(DAG_ID, run_id)
        for task_id, ti in tis.items():
            if ti["state"] and seen.get(task_id) != ti["state"]:
                seen[task_id] = ti["state"]
                print(
                    f"  [{time.monotonic() - started:6.0f}s] {task_id:15s} {ti['state']}",
                    flush=True,
                )
        state_now = stack.run_state(DAG_ID, run_id)
        if state_now in ("success", "failed"):
            break
        time.sleep(2)
    print(f"==> run {run_id}: {state_now} in {time.monotonic() - started:.0f}s")
    urls = (
        f"Airflow UI:     http://127.0.0.1:{state['airflow_port']}  (demo mode: no login, "
        "every user is admin)\n"
        f"Ray dashboard:  http://127.0.0.1:{state['dashboard_port']}\n"
        f"S3 store:       http://127.0.0.1:{state['s3_port']}  (keys in .demo/state.json)\n"
        "Stop everything: make demo-stop"
    )
    if state_now != "success":
        failed = [
            t for t, ti in stack.task_instances(DAG_ID, run_id).items() if ti["state"] == "failed"
        ]
        for task_id in failed:
            print(f"---- log of {task_id} (last lines) ----")
            print("\n".join(stack.task_log(DAG_ID, run_id, task_id).splitlines()[-30:]))
        print(urls)
        return 1
    raw = stack.xcom_raw(DAG_ID, run_id, "report")
    metrics = json.loads(raw) if isinstance(raw, str) else raw
    width = max(len(k) for k in metrics)
    print("HIGGS test-set metrics")
    for name, value in metrics.items():
        shown = f"{value:.4f}" if isinstance(value, float) else value
        print(f"  {name.ljust(width)}  {shown}")
    print(urls)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("action", nargs="?", default="run", choices=["run", "stop"])
    parser.add_argument("--source", default=os.environ.get("SOURCE") or "synthetic")
    parser.add_argument("--rows", type=int, default=int(os.environ.get("ROWS") or 1_000_000))
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS") or 100))
    parser.add_argument("--actors", type=int, default=int(os.environ.get("ACTORS") or 2))
    parser.add_argument("--use-gpu", action="store_true", default=bool(os.environ.get("USE_GPU")))
    args = parser.parse_args(argv)
    if args.action == "stop":
        stop()
        return 0
    conf = {
        "source": args.source,
        "rows": args.rows,
        "rounds": args.rounds,
        "num_actors": args.actors,
        "cpus_per_actor": 1,
        "use_gpu": args.use_gpu,
    }
    return run(conf)


if __name__ == "__main__":
    sys.exit(main())
