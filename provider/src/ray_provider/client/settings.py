"""Parse a Ray connection into the settings the hook uses, with errors that name the field.

Kept free of any Ray call so it can be checked on its own (and reused by the XCom backend and
the run-end listener).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ray_provider.exceptions import RayConnectionConfigError

# The defaults live with the connection's form, so the UI shows the values applied here.
from ray_provider.hooks.ray_connection_form import (
    DEFAULT_CLIENT_PORT,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_GCS_PORT,
    DEFAULT_PENDING_TIMEOUT,
)
from ray_provider.runtime.keys import DEFAULT_NAMESPACE, DEFAULT_RESULT_TTL_SECONDS

# `RAY_URL` overrides the connection's address (the switch the original ray_task honoured).
ADDRESS_OVERRIDE_ENV = "RAY_URL"
LOCAL = "local"
# Ray's and KubeRay's dashboard port.
DEFAULT_DASHBOARD_PORT = 8265

Mode = Literal["local", "client", "driver", "builder"]

# ``SCHEME://...`` with any other scheme names a Python module that provides a Ray
# ``ClientBuilder`` (Ray's own mechanism, as ``anyscale://CLUSTER`` uses): Ray imports the module
# and lets it connect. A scheme must look like a module path to be one.
_MODULE_SCHEME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
# The dashboard (and Jobs API) URL some connections give as their address (astro-provider-ray's
# form): the Ray Client server of the same head is reached on its default port.
_DASHBOARD_SCHEMES = ("http", "https")
# Task resource defaults a connection may set for all of its tasks, with the 2021 post's
# spelling ("Ray params such as num_cpu and num_gpu") accepted beside Ray's own.
TASK_DEFAULT_EXTRAS = {"num_cpus": "num_cpu", "num_gpus": "num_gpu"}

# Extras read by earlier versions as aliases of a standard field, and where the value goes now.
RETIRED_EXTRAS = {
    "address": "put the Ray address in the connection's host (ray://HOST:10001, HOST:6379 or "
    "local; an 'address' extra is read only when the host is empty, as astro-provider-ray "
    "wrote it)",
    "token": "put the auth token in the connection's password (Airflow masks it in the UI "
    "and logs)",
}


@dataclass(frozen=True)
class RaySettings:
    """Everything needed to reach a Ray cluster, from an Airflow connection."""

    conn_id: str
    address: str = LOCAL
    namespace: str = DEFAULT_NAMESPACE
    token: str | None = None
    runtime_env: dict[str, Any] = field(default_factory=dict)
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    result_ttl_seconds: float = DEFAULT_RESULT_TTL_SECONDS
    pending_timeout_seconds: float = DEFAULT_PENDING_TIMEOUT
    local_port: int = DEFAULT_GCS_PORT
    # The Ray dashboard as a person's browser reaches it (extra ``dashboard_url``); empty:
    # derived from the address (``dashboard_base``).
    dashboard_url: str = ""
    # The Ray Jobs API as this process reaches it (extra ``jobs_api_url``); empty: the
    # address's host on the dashboard port. Not ``dashboard_url``: that is a browser's view
    # (``http://localhost:8265`` through a port-forward), which a pod may not reach.
    jobs_api_url: str = ""
    # Resources of every task of this connection that does not set its own (extras
    # ``num_cpus``/``num_gpus``, or the 2021 spelling ``num_cpu``/``num_gpu``).
    default_num_cpus: float | None = None
    default_num_gpus: float | None = None
    # True when the address is a per-run cluster's (a task's ``ray_cluster``), not the
    # connection's: references then carry it, so every reader reaches that same cluster.
    address_from_task: bool = False

    def on_cluster(self, address: str | None, dashboard_url: str = "") -> RaySettings:
        """These settings on another cluster of the same deployment (a per-run cluster).

        The connection's token, namespace and runtime_env stay; its ``dashboard_url`` and
        ``jobs_api_url`` describe the connection's own cluster, so they give way to the
        per-run cluster's dashboard (``dashboard_url``; empty: the address's host).
        """
        if not address:
            return self
        normalized = normalize_address(address, None, field_name="ray_cluster (address)")
        if normalized == LOCAL or ("://" in normalized and not normalized.startswith("ray://")):
            raise RayConnectionConfigError(
                f"ray_cluster address {address!r} is not a Ray Client or GCS address; a "
                "per-run cluster is reached at ray://HOST:10001 (what RayClusterSetupOperator "
                "returns)."
            )
        return replace(
            self,
            address=normalized,
            dashboard_url=dashboard_url,
            jobs_api_url=dashboard_url,
            address_from_task=True,
        )

    @property
    def dashboard_base(self) -> str:
        """The dashboard URL for links: the extra, else the address's host on port 8265."""
        if self.dashboard_url:
            return self.dashboard_url.rstrip("/")
        if self.mode == "builder":
            # The builder's own address need not name a host (``anyscale://CLUSTER``).
            host = self.address.split("://", 1)[1].split("/", 1)[0].rpartition(":")[0]
            return f"http://{host}:{DEFAULT_DASHBOARD_PORT}" if host else ""
        host = self.host_port[0]
        return f"http://{host}:{DEFAULT_DASHBOARD_PORT}"

    @property
    def jobs_api_base(self) -> str:
        """The Jobs API: the extra, else the address's host on port 8265 ("" if it has none)."""
        if self.jobs_api_url:
            return self.jobs_api_url.rstrip("/")
        if self.mode == "builder":
            return ""
        return f"http://{self.host_port[0]}:{DEFAULT_DASHBOARD_PORT}"

    @property
    def mode(self) -> Mode:
        if self.address == LOCAL:
            return "local"
        if self.address.startswith("ray://"):
            return "client"
        return "builder" if "://" in self.address else "driver"

    @property
    def builder_module(self) -> str:
        """The module Ray imports for a ``SCHEME://`` address (only in ``builder`` mode)."""
        return self.address.split("://", 1)[0] if self.mode == "builder" else ""

    @property
    def host_port(self) -> tuple[str, int]:
        """Host and port to probe before connecting (the GCS, or the Ray Client server)."""
        if self.mode == "local":
            return "127.0.0.1", self.local_port
        if self.mode == "builder":
            raise RayConnectionConfigError(
                f"{self.address!r} is reached through the ClientBuilder of module "
                f"{self.builder_module!r}; it has no host and port of its own to probe."
            )
        bare = self.address.removeprefix("ray://")
        host, _, port = bare.rpartition(":")
        return host, int(port)

    @property
    def token_hint(self) -> str:
        """Why a cluster with token auth refused this connection, in its words."""
        if not self.token:
            return "the connection has no token (its password field is empty)"
        return "the connection's token (password field) is not the cluster's token"

    def task_resources(
        self, num_cpus: float | None, num_gpus: float | None
    ) -> tuple[float | None, float | None]:
        """A task's CPUs and GPUs: its own values, else this connection's defaults."""
        return (
            num_cpus if num_cpus is not None else self.default_num_cpus,
            num_gpus if num_gpus is not None else self.default_num_gpus,
        )


def normalize_address(raw: str | None, port: int | None = None, *, field_name: str) -> str:
    """Accept ``ray://host:port``, ``host:port``, ``host`` (+ port field) or ``local``."""
    value = (raw or "").strip()
    if not value or value.lower() in (LOCAL, "auto"):
        return LOCAL
    if value.startswith("ray://"):
        bare = value.removeprefix("ray://")
        if ":" not in bare:
            bare = f"{bare}:{port or DEFAULT_CLIENT_PORT}"
        _check_port(bare, field_name)
        return f"ray://{bare}"
    if "://" in value:
        scheme, rest = value.split("://", 1)
        if scheme.lower() in _DASHBOARD_SCHEMES:
            netloc = rest.split("/", 1)[0]
            if "@" in netloc:
                raise RayConnectionConfigError(
                    f"{field_name}: the URL carries credentials; they do not belong in a URL "
                    "(logs and links show it). Put the token in the connection's password field."
                )
            host = netloc.rpartition(":")[0] or netloc
            if not host:
                raise RayConnectionConfigError(f"{field_name}: {value!r} names no host.")
            # The port field (hidden in the form) names another Ray Client port.
            return normalize_address(f"ray://{host}", port, field_name=field_name)
        if not _MODULE_SCHEME.fullmatch(scheme) or not rest:
            raise RayConnectionConfigError(
                f"{field_name}: {value!r} is not a Ray address. Use 'ray://HOST:10001' (Ray "
                "Client), 'HOST:6379' (join the cluster as a driver), 'local', or "
                "'MODULE://ADDRESS' for a Python module that provides a Ray ClientBuilder "
                "(e.g. 'anyscale://CLUSTER')."
            )
        return value
    if ":" not in value:
        if port is None:
            value = f"ray://{value}:{DEFAULT_CLIENT_PORT}"
            _check_port(value.removeprefix("ray://"), field_name)
            return value
        # A bare host with a port: the GCS port means a driver, anything else Ray Client.
        value = f"{value}:{port}" if port == DEFAULT_GCS_PORT else f"ray://{value}:{port}"
        return normalize_address(value, field_name=field_name)
    _check_port(value, field_name)
    return value


def _check_port(host_port: str, field_name: str) -> None:
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RayConnectionConfigError(
            f"{field_name}: {host_port!r} is not HOST:PORT with a port between 1 and 65535."
        )


def _parse_runtime_env(value: Any, conn_id: str) -> dict[str, Any]:
    if value in (None, "", {}):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise RayConnectionConfigError(
                f"Connection {conn_id!r}, extra field 'runtime_env': not valid JSON ({exc}). "
                'Write a JSON object, e.g. {"pip": ["xgboost==2.0.3"], "env_vars": {"A": "1"}}.'
            ) from exc
    if not isinstance(value, dict):
        raise RayConnectionConfigError(
            f"Connection {conn_id!r}, extra field 'runtime_env': expected a JSON object, got "
            f"{type(value).__name__}."
        )
    return value


def _positive_number(extra: dict[str, Any], name: str, default: float, conn_id: str) -> float:
    raw = extra.get(name)
    if raw in (None, ""):
        return default
    try:
        number = float(raw)
    except (TypeError, ValueError):
        number = -1.0
    if number <= 0:
        raise RayConnectionConfigError(
            f"Connection {conn_id!r}, extra field {name!r}: {raw!r} is not a positive number "
            f"of seconds (default {default:g})."
        )
    return number


def _port(extra: dict[str, Any], name: str, default: int, conn_id: str) -> int:
    raw = extra.get(name)
    if raw in (None, ""):
        return default
    try:
        port = int(raw)
        valid = not isinstance(raw, bool) and float(raw) == port and 0 < port < 65536
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise RayConnectionConfigError(
            f"Connection {conn_id!r}, extra field {name!r}: {raw!r} is not a port between 1 "
            f"and 65535 (default {default})."
        )
    return port


def _http_url(extra: dict[str, Any], name: str, conn_id: str) -> str:
    raw = str(extra.get(name) or "").strip()
    if "@" in raw.split("://", 1)[-1].split("/", 1)[0]:
        raise RayConnectionConfigError(
            f"Connection {conn_id!r}, extra field {name!r}: the URL carries credentials; they do "
            "not belong in a URL (logs and links show it). Put the token in the connection's "
            "password field."
        )
    if raw and not raw.startswith(("http://", "https://")):
        seen_by = "your browser" if name == "dashboard_url" else "the Airflow workers"
        raise RayConnectionConfigError(
            f"Connection {conn_id!r}, extra field {name!r}: {raw!r} is not an http(s) URL. "
            f"Give the Ray dashboard as {seen_by} reach it, e.g. "
            f"'http://ray.example.com:{DEFAULT_DASHBOARD_PORT}', or remove the field to derive it "
            "from the address."
        )
    return raw


def _task_default(extra: dict[str, Any], name: str, conn_id: str) -> float | None:
    """``num_cpus``/``num_gpus`` of the extra, in either spelling (both: they must agree)."""
    old = TASK_DEFAULT_EXTRAS[name]
    given = {key: extra[key] for key in (name, old) if extra.get(key) not in (None, "")}
    values = set()
    for key, raw in given.items():
        try:
            number = float(raw)
        except (TypeError, ValueError):
            number = -1.0
        if isinstance(raw, bool) or not math.isfinite(number) or number < 0:
            raise RayConnectionConfigError(
                f"Connection {conn_id!r}, extra field {key!r}: {raw!r} is not a number >= 0 "
                f"(the default {name} of every task of this connection, e.g. 1)."
            )
        values.add(number)
    if len(values) > 1:
        raise RayConnectionConfigError(
            f"Connection {conn_id!r} sets both {name!r} and {old!r} to different values "
            f"({given[name]!r} and {given[old]!r}): keep one of them."
        )
    return values.pop() if values else None


def _refuse_retired_extras(extra: dict[str, Any], conn_id: str) -> None:
    """Extras that once duplicated a standard field: refused, so no two fields disagree."""
    for name, home in RETIRED_EXTRAS.items():
        if name in extra:
            raise RayConnectionConfigError(
                f"Connection {conn_id!r}, extra field {name!r} is not read: {home}, and "
                f"remove {name!r} from the extra."
            )


def is_dashboard_url(value: str | None) -> bool:
    """An ``http(s)://`` address: the dashboard itself (astro-provider-ray's form)."""
    return (value or "").strip().lower().startswith(tuple(f"{s}://" for s in _DASHBOARD_SCHEMES))


def settings_from_connection(conn: Any | None, conn_id: str) -> RaySettings:
    """Build settings from an Airflow Connection (``None``: the embedded local default).

    ``RAY_URL`` replaces the connection's address, and with it the dashboard the
    connection's ``dashboard_url`` / ``jobs_api_url`` extras describe (they belong to the
    cluster that is not used).
    """
    extra: dict[str, Any] = {}
    token = None
    raw: str | None = None
    port: int | None = None
    source = ""
    if conn is not None:
        conn_type = getattr(conn, "conn_type", None)
        if conn_type != "ray":
            raise RayConnectionConfigError(
                f"Connection {conn_id!r} has conn_type {conn_type!r}; @task.ray and RayHook "
                'need a connection of type "ray" (e.g. {"conn_type": "ray", "host": '
                '"ray://HOST:10001"}). Fix its conn_type, or pass the id of your Ray '
                "connection as ray_conn_id."
            )
        extra = conn.extra_dejson or {}
        host = conn.host
        if not (host or "").strip() and extra.get("address"):
            # astro-provider-ray's form: the dashboard URL in the "address" extra, no host.
            extra = dict(extra)
            host = str(extra.pop("address"))
        _refuse_retired_extras(extra, conn_id)
        token = conn.password or None
        raw, port, source = host, conn.port, f"Connection {conn_id!r}, host"
    override = os.environ.get(ADDRESS_OVERRIDE_ENV)
    if override:
        raw, port, source = override, None, f"{ADDRESS_OVERRIDE_ENV} (environment)"
        extra = {k: v for k, v in extra.items() if k not in ("dashboard_url", "jobs_api_url")}
    elif conn is not None and not (raw or "").strip():
        raise RayConnectionConfigError(
            f"Connection {conn_id!r} has no host: set it to the Ray address "
            "(ray://HOST:10001 for Ray Client, HOST:6379 to join as a driver), or to "
            "'local' for a Ray head on this machine."
        )
    address = normalize_address(raw, port, field_name=source) if raw is not None else LOCAL
    if is_dashboard_url(raw):
        # The address is the dashboard itself: links and the Jobs API go there too.
        url = str(raw).strip()
        extra = {
            **extra,
            "dashboard_url": extra.get("dashboard_url") or url,
            "jobs_api_url": extra.get("jobs_api_url") or url,
        }
    return RaySettings(
        conn_id=conn_id,
        address=address,
        namespace=str(extra.get("namespace") or DEFAULT_NAMESPACE),
        token=token,
        runtime_env=_parse_runtime_env(extra.get("runtime_env"), conn_id),
        connect_timeout=_positive_number(
            extra, "connect_timeout", DEFAULT_CONNECT_TIMEOUT, conn_id
        ),
        result_ttl_seconds=_positive_number(
            extra, "result_ttl_seconds", DEFAULT_RESULT_TTL_SECONDS, conn_id
        ),
        pending_timeout_seconds=_positive_number(
            extra, "pending_timeout_seconds", DEFAULT_PENDING_TIMEOUT, conn_id
        ),
        local_port=_port(extra, "local_port", DEFAULT_GCS_PORT, conn_id),
        dashboard_url=_http_url(extra, "dashboard_url", conn_id),
        jobs_api_url=_http_url(extra, "jobs_api_url", conn_id),
        default_num_cpus=_task_default(extra, "num_cpus", conn_id),
        default_num_gpus=_task_default(extra, "num_gpus", conn_id),
    )
