"""RayJobs.follow against a stand-in client: the log's end, an outage, a tokenless connection."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from ray_provider.client.job_log import JobLog
from ray_provider.client.jobs import RayJobs
from ray_provider.client.settings import RaySettings
from ray_provider.exceptions import RayUnreachableError

SETTINGS = RaySettings(conn_id="t", address="ray://head:10001")


class StandIn:
    """A Jobs API whose websocket fails; the job writes its last lines after the last poll."""

    def __init__(self, statuses, logs, outages=0, **kwargs):
        self.headers = kwargs.get("headers")
        self.statuses = list(statuses)
        self.logs = list(logs)
        self.outages = outages

    async def tail_job_logs(self, job_id):
        raise RuntimeError("websocket refused by a proxy")
        yield ""  # pragma: no cover

    def get_job_info(self, job_id):
        if self.outages:
            self.outages -= 1
            raise ConnectionError("Failed to connect to Ray at address: http://head:8265")
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return SimpleNamespace(status=status, message="done")

    def get_job_logs(self, job_id):
        return self.logs.pop(0) if len(self.logs) > 1 else self.logs[0]


def follow(client, monkeypatch):
    monkeypatch.setattr("ray_provider.client.jobs.asyncio.sleep", _no_sleep)
    jobs = RayJobs(SETTINGS, client_factory=lambda **kw: client)
    lines: list[str] = []
    return asyncio.run(jobs.follow("j", JobLog(lines.append), poll_seconds=0)), lines


async def _no_sleep(_seconds):
    return None


def test_polling_reads_what_was_written_after_the_last_poll(monkeypatch):
    client = StandIn(["RUNNING", "SUCCEEDED"], ["round 1\n", 'round 1\nround 2\n{"auc": 1}\n'])
    outcome, lines = follow(client, monkeypatch)
    assert lines == ["round 1", "round 2", '{"auc": 1}']
    assert outcome.status == "SUCCEEDED" and outcome.last_line == '{"auc": 1}'


def test_an_outage_of_the_jobs_api_is_waited_out(monkeypatch):
    client = StandIn(["SUCCEEDED"], ["ok\n"], outages=3)
    outcome, lines = follow(client, monkeypatch)
    assert outcome.status == "SUCCEEDED" and lines == ["ok"]


def test_a_lasting_outage_ends_the_wait(monkeypatch):
    monkeypatch.setattr("ray_provider.client.jobs.OUTAGE_SECONDS", 0.0)
    with pytest.raises(RayUnreachableError, match="jobs_api_url"):
        follow(StandIn(["RUNNING"], [""], outages=100), monkeypatch)


def test_a_connection_without_token_sends_none_of_this_processs(monkeypatch):
    monkeypatch.setenv("RAY_AUTH_TOKEN", "another-clusters-token-000000")
    client = StandIn(["SUCCEEDED"], [""])
    jobs = RayJobs(SETTINGS, client_factory=lambda **kw: StandIn(["SUCCEEDED"], [""], **kw))
    assert jobs.client.headers == {"Authorization": ""}
    with_token = RayJobs(
        RaySettings(conn_id="t", address="ray://head:10001", token="tok"),
        client_factory=lambda **kw: StandIn(["SUCCEEDED"], [""], **kw),
    )
    assert with_token.client.headers == {"Authorization": "Bearer tok"}
    assert client.headers is None
