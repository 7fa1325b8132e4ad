"""``python -m bench --smoke``: every benchmark runs end to end at a tiny size.

The numbers of a smoke run mean nothing about performance; what is checked is that each
benchmark starts its services, measures every method, writes its JSON, markdown and PNG to
the given folder (never to ``bench/results``), stops what it started, and that the numbers
it writes have the right shape and signs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.registry import SUITE
from devstack.processes import processes_matching

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "bench" / "results"
# Every results file a `python -m bench` run writes (an optional one comes from other runs).
NAMES = tuple(r.stem for benchmark in SUITE for r in benchmark.results if not r.optional)

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def _committed_state() -> dict[str, float]:
    return {p.name: p.stat().st_mtime for p in COMMITTED.glob("*")} if COMMITTED.exists() else {}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("bench-results")
    before = _committed_state()
    # The suite's own Airflow/Ray settings (conftest) must not leak into the benchmark.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "RAY_"))}
    env["PYTHONPATH"] = str(ROOT)
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", f"--results-dir={results}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    print(f"python -m bench --smoke took {time.monotonic() - started:.0f}s")
    assert run.returncode == 0, f"{run.stdout[-6000:]}\n{run.stderr[-6000:]}"
    assert _committed_state() == before, "the smoke run touched bench/results"
    return results


def load(results: Path, name: str) -> dict:
    return json.loads((results / f"{name}.json").read_text())


def test_every_benchmark_writes_json_markdown_and_png(smoke):
    for name in NAMES:
        for suffix in ("json", "md", "png"):
            path = smoke / f"{name}.{suffix}"
            assert path.exists() and path.stat().st_size > 0, path
        facts = load(smoke, name)["machine"]
        assert facts["cpus"] >= 1 and len(facts["load_average"]) == 3
    summary = (smoke / "README.md").read_text()
    for name in NAMES:
        assert f"({name}.md)" in summary
    assert json.loads((smoke / "bench_run.json").read_text())["failed"] == []


def test_no_service_is_left_running(smoke):
    services = json.loads((smoke / "bench_run.json").read_text())["services"]
    paths = [p for p in services.values() if p]
    assert paths, services
    leftovers = processes_matching(lambda cmd: any(p in part for part in cmd for p in paths))
    assert not leftovers, [p.info for p in leftovers]


def test_handoff_numbers_are_sane(smoke):
    data = load(smoke, "handoff")
    for row in data["table"].values():
        for key in ("floor_get", "ours_receipt_in_ray", "ours_consumer_task", "s3_total"):
            assert 0 < row[key]["median"] < 600, (key, row[key])
        # The consumer holds the value after it asked for it, within its own task.
        assert row["ours_receipt_in_ray"]["median"] <= row["ours_consumer_task"]["median"]
        assert row["xcom_receipt_from_task_start"]["median"] > 0
        assert row["no_keeper_receipt_in_ray"]["median"] > 0
        # Plain XCom carries the frame itself; ours a reference of constant size.
        assert row["xcom_bytes"] > row["bytes"] / 2
    assert data["goals"]["xcom_constant_met"], data["goals"]["xcom_bytes"]
    # With the keeper the consumer reuses the producer's Ray worker; without, every task
    # waits for a new worker process.
    workers = data["raw"]["workers"]
    assert workers["ray"]["new_worker_process"] < workers["ray"]["tasks"], workers
    assert workers["ray_no_keeper"]["new_worker_process"] == workers["ray_no_keeper"]["tasks"]


def test_overhead_numbers_are_sane(smoke):
    data = load(smoke, "overhead")
    assert data["dag"]["wall"]["median"] > 0 and data["script"]["wall"]["median"] > 0
    parts = data["dag"]["breakdown"]
    assert parts["ray_callable"] > 0 and parts["task_process"] > 0
    assert parts["scheduler_gaps"] >= 0  # the tasks run one after the other
    # The same model either way: both learned something.
    assert data["dag"]["auc"] > 0.7 and data["script"]["auc"] > 0.7


def test_training_numbers_are_sane(smoke):
    data = load(smoke, "training")
    for entry in data["results"]:
        assert not entry["failed"], entry["failed"]
        for method in entry["methods"].values():
            assert method["rows_per_s"]["median"] > 0
            assert method["auc"] > 0.7, method


def test_checkpoint_numbers_are_sane(smoke):
    data = load(smoke, "checkpoint_throughput")
    assert data["write_throughput_vs_raw"] > 0 and data["read_throughput_vs_raw"] > 0
    # MinIO also measured the checkpoint with a pod's identity instead of keys.
    minio = data["servers"]["minio"]
    assert minio["identity_write_vs_keys"]["median"] > 0
    assert minio["identity_read_vs_keys"]["median"] > 0
