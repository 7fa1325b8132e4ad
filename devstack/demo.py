"""``make demo``: the HIGGS pipeline end to end on this machine, no Kubernetes.

Starts (or reuses, when a previous ``make demo`` left them running) a local Ray head with the
dashboard, an S3 server (MinIO, as in the cluster, built by ``make tools``) with the checkpoint
bucket, and Airflow (api-server, scheduler, dag-processor, triggerer; SQLite; connections
from environment variables); triggers the ``higgs_xgboost`` DAG through the scheduler, shows
its progress, and prints the metrics and the URLs. The same local platform the tests and
benchmarks use (``devstack.platform``). ``make demo-stop`` stops it by PID.

    python -m devstack.demo [run|stop] [--rows N] [--source S] [--rounds R] ...
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from devstack.platform import PROJECT_DAGS, ROOT, LocalPlatform

STATE_DIR = ROOT / ".demo"
STATE_FILE = STATE_DIR / "state.json"
DAG_ID = "higgs_xgboost"


def _say(message: str) -> None:
    print(message, flush=True)


def _platform() -> LocalPlatform:
    """The demo's platform: persistent under ``.demo/``, dashboard on, this machine's cores."""
    return LocalPlatform(
        work_dir=STATE_DIR,
        dags=(PROJECT_DAGS,),
        dashboard=True,
        parallelism=2,
        persistent=True,
        say=_say,
    )


def _read_state() -> dict:
    state = json.loads(STATE_FILE.read_text())
    # A state file written before the platform recorded its paths: the demo's fixed ones.
    older = {
        "work_dir": str(STATE_DIR),
        "persistent": True,
        "parallelism": 2,
        "ray_num_cpus": os.cpu_count() or 2,
        "s3_root": str(STATE_DIR / "s3"),
        "s3_bucket": "ray-checkpoints",
        "airflow_home": str(STATE_DIR / "airflow"),
        "dags_folder": str(PROJECT_DAGS),
    }
    return {**older, **state}


def _running() -> LocalPlatform | None:
    """The platform a previous ``make demo`` left running, if all of it still runs."""
    if not STATE_FILE.exists():
        return None
    platform = LocalPlatform.attach(_read_state())
    if platform.is_running():
        return platform
    print("==> a previous demo is only partly running: stopping what is left of it")
    stop()
    return None


def start() -> LocalPlatform:
    platform = _running()
    if platform is not None:
        print(f"==> reusing the running demo services (Airflow on port {platform.airflow_port})")
        return platform
    platform = _platform().start()
    _write_private(STATE_FILE, json.dumps(platform.state(), indent=2))
    return platform


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
    LocalPlatform.attach(_read_state()).stop()
    STATE_FILE.unlink()
    print("==> stopped Airflow, the S3 server and Ray (data kept in .demo/)")


def run(conf: dict) -> int:
    platform = start()
    stack = platform.airflow
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
        f"Airflow UI:     {stack.url}  (demo mode: no login, every user is admin)\n"
        f"Ray dashboard:  http://127.0.0.1:{platform.head.dashboard_port}\n"
        f"S3 store:       {platform.s3.endpoint_url}  (keys in .demo/state.json)\n"
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
