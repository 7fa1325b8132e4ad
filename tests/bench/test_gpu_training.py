"""``python -m bench gpu`` (``make bench-gpu``): refuses a machine without a GPU; its report.

The GPU run itself needs an NVIDIA GPU, which CI does not have; the committed results
(``bench/results/gpu_training.json``) came from one. What runs here: the refusal on a CPU
machine (exit 2, a message naming the fix), and the report built from recorded results.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.suites import gpu_training

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "bench" / "results" / "gpu_training.json"


def test_a_machine_without_nvidia_smi_is_refused_with_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert gpu_training.main([f"--results-dir={tmp_path}"]) == 2
    message = capsys.readouterr().err
    assert "nvidia-smi is not on PATH" in message and "python -m bench training" in message
    assert not list(tmp_path.iterdir()), "nothing is written when nothing was measured"


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has a GPU")
def test_the_command_line_exits_2_on_this_cpu_machine(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "bench", "gpu", f"--results-dir={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 2, run.stderr
    assert "needs a machine with an NVIDIA GPU" in run.stderr


def _recorded() -> dict:
    return json.loads(COMMITTED.read_text())


def test_the_report_shows_speed_up_against_the_cpu_from_the_medians():
    data = _recorded()
    text = gpu_training.markdown(data)
    for entry in data["results"]:
        cpu = entry["methods"]["cpu"]["seconds"]["median"]
        cuda = entry["methods"]["cuda"]["seconds"]["median"]
        assert f"{cpu / cuda:.2f}x" in text
    assert data["gpu"]["xgboost_cuda"] is True
    assert "ray.get_gpu_ids()` = ['0']" in text, "the num_gpus=1 task saw its GPU"


def test_a_method_cut_short_by_the_budget_says_how_many_runs_it_had():
    data = copy.deepcopy(_recorded())
    entry = data["results"][0]
    entry["methods"]["cuda"]["seconds"]["samples"] = [1.0, 1.1]
    entry["skipped_for_budget"] = ["cuda run 3"]
    text = gpu_training.markdown(data)
    assert "(2 runs)" in text and "skipped (time budget) | cuda run 3" in text


def test_a_failed_method_is_reported_not_dropped():
    data = copy.deepcopy(_recorded())
    data["results"][0]["failed"] = {"ray_train_gpu": "RuntimeError: no GPU left"}
    assert "failed: RuntimeError: no GPU left" in gpu_training.markdown(data)
