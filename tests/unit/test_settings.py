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
        # The dashboard URL (astro-provider-ray's form): Ray Client on the same host.
        ("http://head:8265", None, "ray://head:10001"),
        ("https://ray.example.com/", None, "ray://ray.example.com:10001"),
        ("http://head:8265", 31001, "ray://head:31001"),
        # Any other scheme is a module with a Ray ClientBuilder (anyscale://CLUSTER).
        ("anyscale://prod-cluster", None, "anyscale://prod-cluster"),
        ("my_company.ray_builder://team-a", None, "my_company.ray_builder://team-a"),
    ],
)
def test_address_forms(raw, port, expected):
    assert normalize_address(raw, port, field_name="host") == expected


@pytest.mark.parametrize(
    "raw",
    ["1scheme://x", "any-scale://x", "anyscale://", "head:notaport", "ray://:10001", "head:70000"],
)
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
    monkeypatch.setenv("RAY_URL", "not a scheme://nope")
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


def test_a_client_builder_address_is_its_own_mode():
    settings = settings_from_connection(connection(host="anyscale://prod"), "my_ray")
    assert settings.mode == "builder"
    assert settings.builder_module == "anyscale"
    # No host to derive a dashboard from: links need the dashboard_url extra.
    assert settings.dashboard_base == ""
    with pytest.raises(RayConnectionConfigError, match="ClientBuilder of module 'anyscale'"):
        _ = settings.host_port


def test_ray_url_switches_to_a_managed_cluster(monkeypatch):
    """The 2021 post's switch: the same DAG on a managed cluster with RAY_URL=anyscale://..."""
    monkeypatch.setenv("RAY_URL", "anyscale://prod-cluster")
    settings = settings_from_connection(connection(host="head:6379"), "ray_default")
    assert (settings.mode, settings.address) == ("builder", "anyscale://prod-cluster")


def test_a_dashboard_host_gives_the_links_and_the_client_address():
    settings = settings_from_connection(connection(host="http://head:8265"), "my_ray")
    assert settings.address == "ray://head:10001"
    assert settings.dashboard_base == "http://head:8265"
    explicit = settings_from_connection(
        connection(host="http://head:8265", extra={"dashboard_url": "https://ray.example.com"}),
        "my_ray",
    )
    assert explicit.dashboard_base == "https://ray.example.com"
    # The Jobs API is that URL too: Airflow reaches the dashboard it was given.
    assert settings.jobs_api_base == explicit.jobs_api_base == "http://head:8265"


def test_the_jobs_api_is_the_dashboard_as_airflow_reaches_it_not_as_a_browser_does():
    conn = connection(
        host="ray://ray-head.ns.svc:10001", extra={"dashboard_url": "http://localhost:8265"}
    )
    settings = settings_from_connection(conn, "my_ray")
    assert settings.dashboard_base == "http://localhost:8265"
    assert settings.jobs_api_base == "http://ray-head.ns.svc:8265"
    conn.extra_dejson["jobs_api_url"] = "http://ray-jobs.internal:8265/"
    assert settings_from_connection(conn, "my_ray").jobs_api_base == "http://ray-jobs.internal:8265"
    conn.extra_dejson["jobs_api_url"] = "ray-jobs:8265"
    with pytest.raises(RayConnectionConfigError, match=r"'jobs_api_url'.*Airflow workers"):
        settings_from_connection(conn, "my_ray")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, (None, None)),
        ({"num_cpus": 2, "num_gpus": 1}, (2.0, 1.0)),
        # The 2021 post's spelling of the same defaults.
        ({"num_cpu": "4", "num_gpu": "0.5"}, (4.0, 0.5)),
        ({"num_cpu": 2, "num_cpus": 2}, (2.0, None)),
    ],
)
def test_task_resource_defaults_of_the_connection(extra, expected):
    settings = settings_from_connection(connection(host="head:6379", extra=extra), "my_ray")
    assert (settings.default_num_cpus, settings.default_num_gpus) == expected
    # A task's own value wins; an unset one takes the connection's.
    assert settings.task_resources(3, None) == (3, expected[1])
    assert settings.task_resources(None, 0) == (expected[0], 0)


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        ({"num_cpu": "many"}, ("'num_cpu'", ">= 0")),
        ({"num_gpus": -1}, ("'num_gpus'", ">= 0")),
        ({"num_gpus": True}, ("'num_gpus'", ">= 0")),
        ({"num_cpu": 2, "num_cpus": 4}, ("'num_cpus'", "'num_cpu'", "keep one")),
    ],
)
def test_bad_task_resource_defaults_name_the_field(extra, names):
    with pytest.raises(RayConnectionConfigError) as info:
        settings_from_connection(connection(host="head:6379", extra=extra), "my_ray")
    assert all(name in str(info.value) for name in names)


def test_astro_provider_rays_connection_form_is_read():
    """Its dashboard URL sat in the "address" extra with no host (host was hidden there)."""
    conn = connection(host="", port=None, extra={"address": "http://head:8265", "namespace": "x"})
    settings = settings_from_connection(conn, "ray_conn")
    assert settings.address == "ray://head:10001"
    assert settings.dashboard_base == "http://head:8265"


def test_ray_url_replaces_the_dashboard_of_the_connection_too(monkeypatch):
    conn = connection(host="http://a:8265", extra={"dashboard_url": "http://a.example.com"})
    monkeypatch.setenv("RAY_URL", "ray://b:10001")
    settings = settings_from_connection(conn, "my_ray")
    assert settings.address == "ray://b:10001"
    assert settings.dashboard_base == settings.jobs_api_base == "http://b:8265"
    monkeypatch.setenv("RAY_URL", "https://b.example.com/ray")
    settings = settings_from_connection(conn, "my_ray")
    assert settings.jobs_api_base == "https://b.example.com/ray"
    # A host RAY_URL replaces is not read at all.
    monkeypatch.setenv("RAY_URL", "ray://b:10001")
    assert settings_from_connection(connection(host="head:nope"), "r").address == "ray://b:10001"


def test_empty_extras_do_not_hide_the_dashboard_host():
    conn = connection(
        host="https://ray.example.com/", extra={"jobs_api_url": "", "dashboard_url": ""}
    )
    settings = settings_from_connection(conn, "my_ray")
    assert settings.jobs_api_base == settings.dashboard_base == "https://ray.example.com"


@pytest.mark.parametrize(
    ("host", "extra"),
    [
        ("http://user:pw@head:8265", {}),
        ("ray://head:10001", {"jobs_api_url": "http://user:pw@head:8265"}),
    ],
)
def test_credentials_in_a_url_are_refused_and_not_echoed(host, extra):
    with pytest.raises(RayConnectionConfigError, match="password field") as info:
        settings_from_connection(connection(host=host, extra=extra), "my_ray")
    assert "pw" not in str(info.value)
