"""The local platform the benchmarks run against: ``devstack.platform`` with the bench's options.

The same Ray head, S3 server and Airflow as the tests and ``make demo``, on 127.0.0.1, stopped
by PID when the block ends, whatever happened inside it. The Ray head gets this machine's
cores (not the tests' oversubscribed head) and its dashboard, as a KubeRay head has it.

``python -m bench`` starts one platform and hands it to every benchmark process through a
small JSON file (``--platform``: the platform's ``state()``), so the services start once; a
benchmark run alone starts its own. Airflow starts only when a benchmark asks for it, so that
training runs on a machine without an idle scheduler polling beside it.

    with platform_for(args.platform) as platform:
        stack = platform.start_airflow()
        run_id, state = stack.run_and_wait("higgs_xgboost", conf)
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.lib.common import ROOT
from devstack.platform import PROJECT_DAGS, LocalPlatform

DAG_SOURCES = (PROJECT_DAGS, ROOT / "bench" / "dags")


@contextmanager
def local_platform(work_dir: Path) -> Iterator[LocalPlatform]:
    """Start Ray (token auth, dashboard and keeper on) and S3 now, Airflow on demand; stop all."""
    platform = LocalPlatform(work_dir=work_dir, dags=DAG_SOURCES, dashboard=True, parallelism=2)
    try:
        platform.start_ray()
        platform.start_s3()
        yield platform
    finally:
        platform.stop()


@contextmanager
def platform_for(state_file: Path | None) -> Iterator[LocalPlatform]:
    """The shared platform described in ``state_file`` (never stopped here), or our own."""
    if state_file is not None:
        yield LocalPlatform.attach(json.loads(state_file.read_text()))
        return
    work_dir = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        with local_platform(work_dir) as platform:
            yield platform
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def add_platform_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--platform",
        type=Path,
        default=None,
        help="JSON state of services started by `python -m bench` (default: start our own)",
    )
