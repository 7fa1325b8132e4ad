"""The Jobs API client against the real test head: the shipped examples' programs, and errors."""

from __future__ import annotations

import asyncio
import json
import shlex
from dataclasses import replace
from types import SimpleNamespace

import pytest

from devstack.processes import free_port
from ray_provider.client.job_log import JobLog
from ray_provider.client.job_result import parse_result, wrap_entrypoint
from ray_provider.client.jobs import RayJobs
from ray_provider.client.settings import settings_from_connection
from ray_provider.exceptions import RayAuthError, RayUnreachableError


@pytest.fixture(scope="module")
def settings(ray_head):
    conn = json.loads(ray_head.connection_json())
    extra = conn.pop("extra")
    return settings_from_connection(SimpleNamespace(port=None, extra_dejson=extra, **conn), "t")


def run_job(jobs: RayJobs, entrypoint: str, submission_id: str, env_vars=None):
    jobs.submit(
        entrypoint=entrypoint,
        submission_id=submission_id,
        runtime_env={"env_vars": env_vars} if env_vars else None,
    )
    lines: list[str] = []
    outcome = asyncio.run(jobs.follow(submission_id, JobLog(lines.append), poll_seconds=0.5))
    return outcome, lines


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("ray_provider.example_dags.example_ray_job", "file"),
        ("dags.ray_operations_check", "last_line"),
    ],
)
def test_the_shipped_job_programs_run_and_answer(settings, module, source):
    """The example DAG's and the cluster check's programs, as their operators send them."""
    import importlib

    program = getattr(
        importlib.import_module(module), "PROGRAM" if "example" in module else "JOB_PROGRAM"
    )
    submission_id = f"test-{module.rsplit('.', 1)[-1]}-{free_port()}"
    entrypoint, env_vars = f"python -c {shlex.quote(program)}", None
    if source == "file":
        entrypoint, env_vars = wrap_entrypoint(entrypoint)
    outcome, lines = run_job(RayJobs(settings), entrypoint, submission_id, env_vars)
    assert outcome.status == "SUCCEEDED", lines
    last = next(line for line in reversed(outcome.tail) if line.strip())
    value = parse_result(source, result_line=outcome.result_line, last_line=last, job_id="j")
    assert value["total"] == 285


def test_a_wrong_or_missing_token_is_an_auth_error(settings):
    for token, says in (
        ("not-the-token-0123456789", "is not the cluster's token"),
        (None, "no token"),
    ):
        with pytest.raises(RayAuthError, match=says):
            _ = RayJobs(replace(settings, token=token)).client


def test_a_closed_port_is_unreachable_naming_the_url(settings):
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RayUnreachableError, match=url):
        _ = RayJobs(replace(settings, jobs_api_url=url)).client
