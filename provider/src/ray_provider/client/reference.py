"""The small JSON reference that ``@task.ray`` stores in XCom instead of the value itself.

A reference is untrusted when it is read back: anyone with write access to the metadata
database can edit an XCom row. Before a reference is used it is checked (``check``): its HMAC
with the deployment key, that it was made by this deployment, and that it belongs to the
reading task's own DAG run; its checkpoint URI must lie under the store's prefix for that run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from ray_provider.exceptions import RayReferenceError
from ray_provider.runtime import signing
from ray_provider.runtime.keys import result_key, run_key

# The key that marks a dict in XCom as one of our references; its value is the format version.
MARKER = "__ray_provider_result__"
FORMAT_VERSION = 2
PURPOSE = "reference"


@dataclass(frozen=True)
class RayResultRef:
    """Where one try's result lives, and what a reader needs to find and trust it."""

    deployment: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    generation: str
    namespace: str
    ray_conn_id: str
    result_type: str = ""
    size: int = 0
    checkpoint_uri: str | None = None
    checkpoint_conn_id: str | None = None
    manifest_digest: str | None = None
    # One item of the result (a list index or a dict key): what a task mapped over the result
    # with .expand() receives. None: the whole result.
    item: int | str | None = None
    # The per-run cluster that holds the result (``ray://HOST:10001``); None: the
    # connection's own cluster.
    ray_address: str | None = None
    signature: str | None = None

    @property
    def key(self) -> str:
        """The registry slot (without the generation)."""
        return result_key(self.deployment, self.dag_id, self.run_id, self.task_id, self.map_index)

    @property
    def run_key(self) -> str:
        return run_key(self.deployment, self.dag_id, self.run_id)

    @property
    def label(self) -> str:
        """How messages name the producing task."""
        suffix = f"[{self.map_index}]" if self.map_index >= 0 else ""
        item = f" item {self.item!r}" if self.item is not None else ""
        return f"{self.task_id}{suffix}{item}"

    def _signed_fields(self) -> dict[str, Any]:
        fields = asdict(self)
        fields.pop("signature")
        # Optional fields are signed only when set, so references made before they existed
        # still verify.
        for optional in ("item", "ray_address"):
            if fields[optional] is None:
                fields.pop(optional)
        return fields

    def item_ref(self, item: int | str, key: bytes | None) -> RayResultRef:
        """The signed reference to one item of this result (one per mapped task)."""
        return replace(self, item=item).signed(key)

    def signed(self, key: bytes | None) -> RayResultRef:
        """This reference with its HMAC (unchanged when the deployment has no key)."""
        if key is None:
            return replace(self, signature=None)
        return replace(self, signature=signing.sign(key, PURPOSE, self._signed_fields()))

    def to_xcom(self) -> dict[str, Any]:
        return {MARKER: FORMAT_VERSION, **asdict(self)}

    @classmethod
    def from_xcom(cls, value: Any) -> RayResultRef | None:
        """Parse an XCom value; ``None`` when it is not one of our references.

        Parsing trusts nothing: a malformed reference is a :class:`RayReferenceError`, and a
        well-formed one is still to be checked with :meth:`check` before use.
        """
        if not isinstance(value, dict) or MARKER not in value:
            return None
        version = value.get(MARKER)
        if version != FORMAT_VERSION:
            raise RayReferenceError(
                f"An XCom holds a @task.ray reference of format {version!r}; this provider "
                f"reads format {FORMAT_VERSION} (references made before the upgrade). Clear "
                "the producing task so it runs again."
            )
        fields = {k: v for k, v in value.items() if k != MARKER}
        unknown = sorted(set(fields) - set(cls.__dataclass_fields__))
        try:
            if unknown:
                raise TypeError(f"unexpected field(s) {unknown}")
            ref = cls(**fields)
            if not isinstance(ref.map_index, int) or not isinstance(ref.size, int):
                raise TypeError("map_index and size must be integers")
            if ref.item is not None and not isinstance(ref.item, int | str):
                raise TypeError("item must be an integer or a string")
            if ref.ray_address is not None and not isinstance(ref.ray_address, str):
                raise TypeError("ray_address must be a string")
        except TypeError as exc:
            raise RayReferenceError(
                f"An XCom holds a malformed @task.ray reference ({exc}); it was not written "
                "by this provider. Clear the producing task so it runs again."
            ) from exc
        return ref

    def check_in_run(self, deployment: Any, dag_id: str | None, run_id: str | None) -> None:
        """:meth:`check` against this deployment and the reading task's run.

        The checkpoint scope is that run's folder in the reference's own store connection.
        """
        scope = None
        if self.checkpoint_uri and dag_id is not None:
            from ray_provider.hooks.checkpoint_store import CheckpointStoreHook

            store = CheckpointStoreHook(self.checkpoint_conn_id or "aws_default")
            scope = store.run_scope_uri(dag_id, run_id)
        self.check(
            key=deployment.key,
            deployment=deployment.id,
            dag_id=dag_id,
            run_id=run_id,
            checkpoint_scope=scope,
        )

    def check(
        self,
        *,
        key: bytes | None,
        deployment: str,
        dag_id: str | None,
        run_id: str | None,
        checkpoint_scope: str | None = None,
    ) -> None:
        """Refuse a reference this deployment did not make for this DAG run.

        ``checkpoint_scope`` is the ``s3://bucket/prefix/...`` every checkpoint of the run lies
        under; ``None`` skips that check (no checkpoint connection to compare with).
        """
        what = (
            f"The reference to the result of {self.label!r} (XCom of {self.dag_id}/{self.run_id})"
        )
        if key is not None and not signing.verify(
            key, PURPOSE, self._signed_fields(), self.signature
        ):
            raise RayReferenceError(
                f"{what} does not carry this deployment's signature: it was edited, or made "
                "by another deployment or with another deployment key. Refusing to use it; "
                "clear the producing task so it runs again."
            )
        if self.deployment != deployment:
            raise RayReferenceError(
                f"{what} belongs to deployment {self.deployment!r}, this is {deployment!r}."
            )
        if dag_id is not None and (self.dag_id, self.run_id) != (dag_id, run_id):
            raise RayReferenceError(
                f"{what} belongs to another DAG run than the reading task's ({dag_id}/{run_id}). "
                "@task.ray results are read only within their own run; pass the value "
                "through a checkpoint or a data store to share it across runs."
            )
        uri = self.checkpoint_uri
        if (
            checkpoint_scope is not None
            and uri is not None
            and not uri.startswith(checkpoint_scope)
        ):
            raise RayReferenceError(
                f"{what} points at the checkpoint {uri}, outside {checkpoint_scope} where "
                "this run's checkpoints are. Refusing to read it."
            )
