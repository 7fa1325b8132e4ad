"""``CheckpointStoreHook``: where checkpoints go, from an ordinary Airflow ``aws`` connection.

The connection's login/password (or extra ``aws_access_key_id``/``aws_secret_access_key``) are
the keys; extra ``endpoint_url`` points at MinIO or any S3-compatible server (AWS S3 when
absent); extra ``region_name`` defaults to us-east-1. The bucket and prefix come from extra
``checkpoint_bucket`` / ``checkpoint_prefix`` or from a ``checkpoint_path`` such as
``s3://bucket/prefix`` given to the task, which wins.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from ray_provider.exceptions import CheckpointConfigError
from ray_provider.runtime import checkpoint as ckpt
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
        endpoint_url = extra.get("endpoint_url") or "https://s3.amazonaws.com"
        parsed = urlparse(endpoint_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise CheckpointConfigError(
                f"Connection {conn_id!r}, extra 'endpoint_url'={endpoint_url!r}: expected "
                "http(s)://HOST[:PORT], e.g. http://minio:9000."
            )
        if self.checkpoint_path:
            bucket, prefix = split_s3_uri(self.checkpoint_path, "checkpoint_path")
        else:
            bucket = extra.get("checkpoint_bucket") or extra.get("bucket")
            prefix = extra.get("checkpoint_prefix", DEFAULT_PREFIX)
        if not bucket:
            raise CheckpointConfigError(
                f"Connection {conn_id!r} names no bucket for checkpoints: add "
                '"checkpoint_bucket": "NAME" to its extra, or pass '
                "checkpoint_path='s3://BUCKET/PREFIX' to the task."
            )
        access_key = conn.login or extra.get("aws_access_key_id")
        secret_key = conn.password or extra.get("aws_secret_access_key")
        return StoreConfig(
            endpoint=parsed.netloc,
            secure=parsed.scheme == "https",
            access_key=access_key,
            secret_key=secret_key,
            region=extra.get("region_name") or DEFAULT_REGION,
            bucket=bucket,
            prefix=prefix or "",
            conn_id=conn_id,
            attempts=int(extra.get("checkpoint_attempts", 4)),
            backoff_seconds=float(extra.get("checkpoint_backoff_seconds", 1.0)),
        )

    def for_uri(self, uri: str) -> tuple[StoreConfig, str]:
        """Store config and object prefix of an existing checkpoint's ``s3://`` URI."""
        bucket, name_prefix = split_s3_uri(uri, "checkpoint_uri")
        base = self.store_config()
        config = StoreConfig(**{**base.__dict__, "bucket": bucket})
        return config, name_prefix.rstrip("/") + "/"

    def location(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
        return ckpt.location(self.store_config(), dag_id, run_id, task_id, map_index)

    def _scope(self, dag_id: str | None, run_id: str | None) -> str:
        config = self.store_config()
        parts = [config.prefix.strip("/"), dag_id or "", run_id or ""]
        if run_id and not dag_id:
            raise CheckpointConfigError("Give the dag_id together with a run_id.")
        scope = "/".join(p for p in parts if p)
        return scope + "/" if scope else ""

    def list_checkpoints(
        self, dag_id: str | None = None, run_id: str | None = None
    ) -> list[dict[str, Any]]:
        return ckpt.list_checkpoints(self.store_config(), self._scope(dag_id, run_id))

    def delete_checkpoints(self, dag_id: str, run_id: str | None = None) -> int:
        """Delete the checkpoints of one run (or of every run of a DAG); returns objects."""
        if not dag_id:
            raise CheckpointConfigError("Deleting needs at least a dag_id.")
        return ckpt.delete_checkpoints(self.store_config(), self._scope(dag_id, run_id))
