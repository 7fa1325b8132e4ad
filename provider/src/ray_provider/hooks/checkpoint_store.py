"""``CheckpointStoreHook``: where checkpoints go, from an ordinary Airflow ``aws`` connection.

The credentials are the connection's keys (with ``aws_session_token`` when temporary), or a
``role_arn`` that the Airflow side assumes so that Ray gets only temporary keys (see
``ray_provider.hooks.store_credentials``); extra ``endpoint_url`` points at MinIO or any
S3-compatible server (AWS S3 when absent); extra ``region_name`` defaults to us-east-1. The
bucket and prefix come from extra ``checkpoint_bucket`` / ``checkpoint_prefix`` or from a
``checkpoint_path`` such as ``s3://bucket/prefix`` given to the task, which wins. Under that
prefix each deployment has its own folder (named by its id, see
``ray_provider.client.deployment``), and each try its own.

Retry extras: ``checkpoint_attempts`` (default 4, at least 1) is how many times one store
operation is tried while the store cannot be reached: a checkpoint write as a whole (its parts
stream once, so it is encoded and sent again), each download, a listing, a delete, an artifact
upload; ``checkpoint_backoff_seconds`` (default 1, at least 0) is the first wait between tries,
doubling after each. An answer from the store (access denied, no such key) is never retried.
See ``ray_provider.runtime.store``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from ray_provider.client import deployment
from ray_provider.exceptions import CheckpointConfigError
from ray_provider.hooks.store_credentials import credentials_from_connection
from ray_provider.runtime import checkpoint_io as ckpt
from ray_provider.runtime.store import StoreConfig

DEFAULT_PREFIX = "checkpoints"
DEFAULT_REGION = "us-east-1"


def split_s3_uri(uri: str, field: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise CheckpointConfigError(
            f"{field}={uri!r}: expected s3://BUCKET[/PREFIX], e.g. s3://ray-checkpoints/higgs."
        )
    return parsed.netloc, parsed.path.strip("/")


def _number(
    extra: dict[str, Any],
    name: str,
    default: float,
    conn_id: str,
    *,
    minimum: float,
    integer: bool = False,
) -> float:
    """An extra field that must be a number (an integer) of at least ``minimum``."""
    raw = extra.get(name)
    if raw in (None, ""):
        return default
    try:
        number = float(raw)
        valid = number >= minimum and (not integer or number.is_integer())
    except (TypeError, ValueError):
        valid = False
    if not valid or isinstance(raw, bool):
        kind = "a whole number" if integer else "a number"
        raise CheckpointConfigError(
            f"Connection {conn_id!r}, extra {name!r}={raw!r}: expected {kind} of at least "
            f"{minimum:g} (default {default:g})."
        )
    return number


class CheckpointStoreHook(BaseHook):
    """Lists, deletes and locates checkpoints; the Ray workers do the transfers.

    .. code-block:: python

        hook = CheckpointStoreHook("s3_checkpoints")
        for checkpoint in hook.list_checkpoints("higgs_xgboost", run_id):
            print(checkpoint["uri"], checkpoint["size"])
        hook.delete_checkpoints("higgs_xgboost", run_id)
    """

    def __init__(self, aws_conn_id: str, checkpoint_path: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id
        self.checkpoint_path = checkpoint_path
        self._config: StoreConfig | None = None
        self.deployment = deployment.current()

    def store_config(self) -> StoreConfig:
        if self._config is None:
            self._config = self._build_config()
        return self._config

    def _build_config(self) -> StoreConfig:
        conn_id = self.aws_conn_id
        try:
            conn = self.get_connection(conn_id)
        except AirflowNotFoundException as exc:
            raise CheckpointConfigError(
                f"No Airflow connection {conn_id!r} for checkpoints. Create an 'aws' "
                f'connection, e.g. AIRFLOW_CONN_{conn_id.upper()}=\'{{"conn_type": "aws", '
                '"login": "ACCESS_KEY", "password": "SECRET_KEY", "extra": {"endpoint_url": '
                '"http://minio:9000", "checkpoint_bucket": "ray-checkpoints"}}\'.'
            ) from exc
        extra = conn.extra_dejson or {}
        if self.checkpoint_path:
            bucket, prefix = split_s3_uri(self.checkpoint_path, "checkpoint_path")
        else:
            bucket = extra.get("checkpoint_bucket")
            prefix = extra.get("checkpoint_prefix", DEFAULT_PREFIX)
        if not bucket and extra.get("bucket"):
            # Read as an alias once; an aws connection is shared with other tools, so a plain
            # "bucket" is not taken to mean the checkpoint store's.
            raise CheckpointConfigError(
                f"Connection {conn_id!r}: extra 'bucket' is not read for checkpoints; rename "
                "it to 'checkpoint_bucket' (or pass checkpoint_path='s3://BUCKET/PREFIX' to "
                "the task)."
            )
        if not bucket:
            raise CheckpointConfigError(
                f"Connection {conn_id!r} names no bucket for checkpoints: add "
                '"checkpoint_bucket": "NAME" to its extra, or pass '
                "checkpoint_path='s3://BUCKET/PREFIX' to the task."
            )
        region = extra.get("region_name") or DEFAULT_REGION
        credentials = credentials_from_connection(conn_id, conn.login, conn.password, extra, region)
        attempts = _number(extra, "checkpoint_attempts", 4, conn_id, integer=True, minimum=1)
        backoff = _number(extra, "checkpoint_backoff_seconds", 1.0, conn_id, minimum=0)
        try:
            return StoreConfig.for_endpoint(
                extra.get("endpoint_url"),
                bucket,
                access_key=credentials.access_key,
                secret_key=credentials.secret_key,
                session_token=credentials.session_token,
                expires_at=credentials.expires_at,
                credential_source=credentials.source,
                credential_chain=credentials.chain,
                credential_chain_kind=credentials.chain_kind,
                sts_endpoint=credentials.sts_endpoint,
                region=region,
                prefix=prefix or "",
                conn_id=conn_id,
                attempts=int(attempts),
                backoff_seconds=backoff,
                signing_key=self.deployment.key,
            )
        except ValueError as exc:
            raise CheckpointConfigError(f"Connection {conn_id!r}, extra {exc}") from exc

    def signed_config(self, why: str) -> StoreConfig:
        """The store config, refusing to go on without the key that authenticates manifests."""
        self.deployment.require_key(why)
        return self.store_config()

    def for_uri(self, uri: str, why: str = "reading a checkpoint") -> tuple[StoreConfig, str]:
        """Store config and object prefix of an existing checkpoint's ``s3://`` URI."""
        bucket, name_prefix = split_s3_uri(uri, "checkpoint_uri")
        base = self.signed_config(why)
        config = StoreConfig(**{**base.__dict__, "bucket": bucket})
        return config, name_prefix.rstrip("/") + "/"

    def location(
        self, dag_id: str, run_id: str, task_id: str, map_index: int, generation: str
    ) -> str:
        """The folder of one try's checkpoint (object names, without the bucket)."""
        return ckpt.location(
            self.store_config(), self.deployment.id, dag_id, run_id, task_id, map_index, generation
        )

    def run_scope_uri(self, dag_id: str, run_id: str) -> str:
        """``s3://bucket/prefix/deployment/dag/run/``: where every checkpoint of a run lies."""
        config = self.store_config()
        return config.uri(ckpt.run_scope(config, self.deployment.id, dag_id, run_id))

    def save_bytes(self, dag_id: str, run_id: str, name: str, data: bytes) -> str:
        """Store a run's artifact (a model, metrics) next to its checkpoints; returns its URI.

        Artifacts go to ``.../<run_id>/artifacts/<name>``: plain objects for people and other
        tools to read, never decoded by the provider.
        """
        from ray_provider.runtime.store import S3Store

        if not name or "/" in name or name in (".", ".."):
            raise CheckpointConfigError(f"Artifact name {name!r}: give a plain file name.")
        config = self.store_config()
        object_name = self._scope(dag_id, run_id) + f"artifacts/{name}"
        S3Store(config).put_bytes(object_name, data)
        return config.uri(object_name)

    def _scope(self, dag_id: str | None, run_id: str | None) -> str:
        if run_id and not dag_id:
            raise CheckpointConfigError("Give the dag_id together with a run_id.")
        return ckpt.run_scope(self.store_config(), self.deployment.id, dag_id, run_id)

    def list_checkpoints(
        self, dag_id: str | None = None, run_id: str | None = None
    ) -> list[dict[str, Any]]:
        return ckpt.list_checkpoints(self.store_config(), self._scope(dag_id, run_id))

    def delete_checkpoints(self, dag_id: str, run_id: str | None = None) -> int:
        """Delete the checkpoints of one run (or of every run of a DAG); returns objects."""
        if not dag_id:
            raise CheckpointConfigError("Deleting needs at least a dag_id.")
        return ckpt.delete_checkpoints(self.store_config(), self._scope(dag_id, run_id))
