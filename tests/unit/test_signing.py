"""HMAC signing and the deployment key: what authenticates manifests and references."""

from __future__ import annotations

import pytest

from ray_provider.client import deployment
from ray_provider.exceptions import RayDeploymentKeyError
from ray_provider.runtime import signing
from ray_provider.runtime.keys import UNKEYED_DEPLOYMENT


def test_signature_depends_on_key_purpose_and_every_field():
    body = {"parts": {"part-00000.pkl": {"size": 10, "sha256": "ab"}}, "location": "p/"}
    signature = signing.sign(b"k" * 32, "manifest", body)
    assert signing.verify(b"k" * 32, "manifest", body, signature)
    assert not signing.verify(b"j" * 32, "manifest", body, signature)
    assert not signing.verify(b"k" * 32, "reference", body, signature)
    changed = {**body, "location": "q/"}
    assert not signing.verify(b"k" * 32, "manifest", changed, signature)
    assert not signing.verify(b"k" * 32, "manifest", body, None)


def test_canonical_form_ignores_key_order_only():
    assert signing.canonical({"b": 1, "a": [1, 2]}) == signing.canonical({"a": [1, 2], "b": 1})
    assert signing.digest({"a": 1}) != signing.digest({"a": 2})


def test_key_id_is_stable_and_reveals_nothing_of_the_key():
    key = b"a-secret-deployment-key-of-48-characters-length!!"
    assert signing.key_id(key) == signing.key_id(key)
    assert signing.key_id(key) != signing.key_id(key + b"x")
    assert len(signing.key_id(key)) == 16 and "secret" not in signing.key_id(key)


def test_deployment_from_the_environment(monkeypatch):
    monkeypatch.setenv(deployment.ENV, "z" * 40)
    current = deployment.current()
    assert current.key == b"z" * 40 and current.id == signing.key_id(b"z" * 40)
    assert "z" * 40 not in repr(current)


def test_a_short_key_is_refused(monkeypatch):
    monkeypatch.setenv(deployment.ENV, "short")
    with pytest.raises(RayDeploymentKeyError, match="at least 32"):
        deployment.current()


def test_without_a_key_checkpoints_are_refused_with_the_fix(monkeypatch):
    monkeypatch.delenv(deployment.ENV, raising=False)
    current = deployment.current()
    assert current.key is None and current.id == UNKEYED_DEPLOYMENT
    with pytest.raises(RayDeploymentKeyError, match=deployment.ENV):
        current.require_key("checkpoint=True on d.t")
