"""Connection parsing: every address form, the RAY_URL override, and errors naming the field."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from ray_provider.client.settings import normalize_address, settings_from_connection
from ray_provider.exceptions import RayConnectionConfigError


def connection(host="local", port=None, password=None, extra=None, conn_type="ray"):
    return SimpleNamespace(
        conn_type=conn_type, host=host, port=port, password=password, extra_dejson=extra or {}
    )


@pytest.mark.parametrize(
    ("raw", "port", "expected"),
    [
        ("ray://head:10001", None, "ray://head:10001"),
        ("ray://head", None, "ray://head:10001"),
        ("head:6379", None, "head:6379"),
        ("head", 6379, "head:6379"),
        ("head", 10001, "ray://head:10001"),
        ("head", None, "ray://head:10001"),
        ("local", None, "local"),
        ("", None, "local"),
        (None, None, "local"),
        ("auto", None, "local"),
    ],
)
def test_address_forms(raw, port, expected):
    assert normalize_address(raw, port, field_name="host") == expected


@pytest.mark.parametrize("raw", ["http://head:8265", "head:notaport", "ray://:10001", "head:70000"])
def test_bad_address_names_the_field(raw):
    with pytest.raises(RayConnectionConfigError, match="host"):
        normalize_address(raw, field_name="host")


def test_settings_from_connection_reads_every_field():
    conn = connection(
        host="ray://head:10001",
        password="s3cret-token",
        extra={
            "namespace": "team-a",
            "runtime_env": json.dumps({"pip": ["xgboost==2.0.3"]}),
            "connect_timeout": "12",
            "result_ttl_seconds": 3600,
        },
    )
    settings = settings_from_connection(conn, "my_ray")
    assert settings.mode == "client"
    assert settings.host_port == ("head", 10001)
    assert settings.token == "s3cret-token"
    assert settings.namespace == "team-a"
    assert settings.runtime_env == {"pip": ["xgboost==2.0.3"]}
    assert settings.connect_timeout == 12.0
    assert settings.result_ttl_seconds == 3600.0


def test_missing_default_connection_means_local():
    settings = settings_from_connection(None, "ray_default")
    assert settings.mode == "local"
    assert settings.host_port == ("127.0.0.1", 6379)
    assert settings.token is None


def test_ray_url_overrides_the_connection(monkeypatch):
    monkeypatch.setenv("RAY_URL", "ray://elsewhere:10001")
    settings = settings_from_connection(connection(host="head:6379"), "ray_default")
    assert settings.address == "ray://elsewhere:10001"


def test_bad_ray_url_names_the_variable(monkeypatch):
    monkeypatch.setenv("RAY_URL", "https://nope")
    with pytest.raises(RayConnectionConfigError, match="RAY_URL"):
        settings_from_connection(connection(host="head:6379"), "ray_default")


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"runtime_env": "{not json"}, "runtime_env"),
        ({"runtime_env": "[1, 2]"}, "runtime_env"),
        ({"connect_timeout": "soon"}, "connect_timeout"),
        ({"result_ttl_seconds": -5}, "result_ttl_seconds"),
    ],
)
def test_bad_extra_names_connection_and_field(extra, field):
    with pytest.raises(RayConnectionConfigError) as info:
        settings_from_connection(connection(host="head:6379", extra=extra), "my_ray")
    assert "'my_ray'" in str(info.value)
    assert field in str(info.value)


def test_a_connection_of_another_type_is_refused():
    with pytest.raises(RayConnectionConfigError, match="conn_type 'aws'"):
        settings_from_connection(connection(host="ray://head", conn_type="aws"), "ray_default")


def test_a_connection_without_host_is_refused_not_made_local(monkeypatch):
    monkeypatch.delenv("RAY_URL", raising=False)
    with pytest.raises(RayConnectionConfigError, match="has no host"):
        settings_from_connection(connection(host=""), "ray_default")


def test_a_missing_ray_default_is_an_error_not_a_local_head(monkeypatch):
    """Before, a missing ray_default silently started an unauthenticated Ray head here."""
    from ray_provider.exceptions import RayConnectionNotFoundError
    from ray_provider.hooks.ray import RayHook

    monkeypatch.delenv("AIRFLOW_CONN_RAY_DEFAULT", raising=False)
    with pytest.raises(RayConnectionNotFoundError, match='"host": "local"') as info:
        _ = RayHook("ray_default").settings
    assert "AIRFLOW_CONN_RAY_DEFAULT" in str(info.value)


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        ({"address": "ray://elsewhere:10001"}, ("'address'", "host")),
        ({"token": "s3cret-token"}, ("'token'", "password")),
    ],
)
def test_retired_aliases_are_refused_naming_the_field_to_use(monkeypatch, extra, names):
    """They once overrode host and password silently; now one field holds each setting."""
    monkeypatch.delenv("RAY_URL", raising=False)
    with pytest.raises(RayConnectionConfigError) as info:
        settings_from_connection(connection(host="head:6379", extra=extra), "my_ray")
    message = str(info.value)
    assert "'my_ray'" in message
    assert all(name in message for name in names)
    assert "s3cret-token" not in message


def test_local_port_picks_the_local_head(monkeypatch):
    monkeypatch.delenv("RAY_URL", raising=False)
    settings = settings_from_connection(connection(extra={"local_port": "6390"}), "ray_default")
    assert settings.host_port == ("127.0.0.1", 6390)


@pytest.mark.parametrize("value", ["sixty", 0, 70000, 6379.5, True])
def test_bad_local_port_names_the_field(monkeypatch, value):
    monkeypatch.delenv("RAY_URL", raising=False)
    with pytest.raises(RayConnectionConfigError, match="'local_port'"):
        settings_from_connection(connection(extra={"local_port": value}), "my_ray")


@pytest.mark.parametrize(
    ("host", "extra", "expected"),
    [
        ("ray://head.ns.svc:10001", {}, "http://head.ns.svc:8265"),
        ("head:6379", {}, "http://head:8265"),
        ("local", {}, "http://127.0.0.1:8265"),
        (
            "ray://head:10001",
            {"dashboard_url": "https://ray.example.com/"},
            "https://ray.example.com",
        ),
    ],
)
def test_the_dashboard_url_is_the_extra_or_derived_from_the_address(
    monkeypatch, host, extra, expected
):
    monkeypatch.delenv("RAY_URL", raising=False)
    settings = settings_from_connection(connection(host=host, extra=extra), "ray_default")
    assert settings.dashboard_base == expected


def test_a_dashboard_url_that_is_no_url_names_the_field(monkeypatch):
    monkeypatch.delenv("RAY_URL", raising=False)
    with pytest.raises(RayConnectionConfigError, match=r"'dashboard_url'.*http"):
        settings_from_connection(connection(extra={"dashboard_url": "ray-head:8265"}), "r")
