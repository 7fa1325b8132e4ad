"""The Ray Client handshake retry: a transient server failure is retried, anything else not."""

from __future__ import annotations

import pytest

from ray_provider.runtime import client_handshake


def failing(errors):
    calls = []

    def init(**kwargs):
        calls.append(kwargs)
        if errors:
            raise errors.pop(0)
        return "context"

    return init, calls


def test_a_transient_failure_is_retried(monkeypatch):
    init, calls = failing([ConnectionAbortedError("Initialization failure from server:\nzombie")])
    monkeypatch.setattr(client_handshake.ray, "init", init)
    slept = []
    result = client_handshake.init_with_retries("ray://h:10001", sleep=slept.append, namespace="n")
    assert result == "context" and len(calls) == 2 and slept == [1]
    assert calls[0] == {"address": "ray://h:10001", "namespace": "n"}


@pytest.mark.parametrize(
    ("errors", "attempts"),
    [
        ([ConnectionError("Failed to connect")], 1),  # not transient: at once
        ([RuntimeError("Initialization failure from server")] * 3, 3),  # transient every time
    ],
)
def test_other_or_lasting_failures_are_raised(monkeypatch, errors, attempts):
    init, calls = failing(list(errors))
    monkeypatch.setattr(client_handshake.ray, "init", init)
    with pytest.raises((ConnectionError, RuntimeError)):
        client_handshake.init_with_retries("ray://h:10001", sleep=lambda s: None)
    assert len(calls) == attempts
