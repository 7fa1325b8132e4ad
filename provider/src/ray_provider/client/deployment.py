"""The deployment's key and identity, from Airflow's configuration.

One secret per Airflow deployment, ``[ray_provider] deployment_key`` (environment:
``AIRFLOW__RAY_PROVIDER__DEPLOYMENT_KEY``, from a Kubernetes Secret; the Helm chart and
``make demo`` generate it). It signs checkpoint manifests and XCom references, and a short
id derived from it prefixes every result key and checkpoint path, so two deployments that share
a Ray cluster and a bucket never see each other's values.

Without a key, results still work within Ray, but nothing read back is authenticated:
checkpoints are refused (they would be unpickled) and references are only checked for their
DAG run. Every Airflow process of the deployment (scheduler, workers, dag-processor) must see
the same key.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from ray_provider.config_options import DEPLOYMENT_KEY, SECTION
from ray_provider.exceptions import RayDeploymentKeyError
from ray_provider.runtime import signing
from ray_provider.runtime.keys import UNKEYED_DEPLOYMENT

OPTION = DEPLOYMENT_KEY
ENV = f"AIRFLOW__{SECTION.upper()}__{DEPLOYMENT_KEY.upper()}"

log = logging.getLogger(__name__)
_warned = False


@dataclass(frozen=True)
class Deployment:
    key: bytes | None

    def __repr__(self) -> str:  # never print the key
        return f"Deployment(id={self.id!r})"

    @property
    def id(self) -> str:
        return signing.key_id(self.key) if self.key else UNKEYED_DEPLOYMENT

    def require_key(self, why: str) -> bytes:
        if self.key is None:
            raise RayDeploymentKeyError(
                f"{why} needs the deployment key, and none is configured. Set {ENV} (or "
                f"[{SECTION}] {OPTION}) to a random secret of at least "
                f"{signing.MIN_KEY_LENGTH} characters, the same for every Airflow process of "
                "this deployment, e.g. from `python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'` kept in a Kubernetes Secret. The Helm chart "
                "and make demo generate one."
            )
        return self.key


def _configured_key() -> str | None:
    try:
        from airflow.sdk import conf

        value = conf.get(SECTION, OPTION, fallback=None)
    except Exception:  # outside a configured Airflow: the environment alone
        value = None
    return value or os.environ.get(ENV) or None


def current() -> Deployment:
    """This process's deployment; a key that is too short is refused, not weakly used."""
    global _warned
    raw = _configured_key()
    if raw is None:
        if not _warned:
            _warned = True
            log.warning(
                "No deployment key (%s): @task.ray results are not authenticated, and "
                "deployments sharing this Ray cluster are not kept apart. Set it to a random "
                "secret; see the README's Security model.",
                ENV,
            )
        return Deployment(key=None)
    if len(raw) < signing.MIN_KEY_LENGTH:
        raise RayDeploymentKeyError(
            f"{ENV} ([{SECTION}] {OPTION}) is {len(raw)} characters long; use a random secret "
            f"of at least {signing.MIN_KEY_LENGTH}, e.g. from `python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))'`."
        )
    return Deployment(key=raw.encode())
