"""The handle of a per-run Ray cluster that the setup task pushes to XCom, signed.

Tasks of the run connect to the address in it and send it the connection's token, so the
address must not be whatever an XCom row says: someone who can edit the metadata database
could otherwise point every task (and its token) at a server of their own. The setup task
signs the handle with the deployment key, bound to its DAG run; a task checks it before use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from ray_provider.exceptions import RayReferenceError
from ray_provider.runtime import signing

MARKER = "__ray_provider_cluster__"
FORMAT_VERSION = 1
PURPOSE = "run-cluster"


@dataclass(frozen=True)
class RunClusterHandle:
    """A per-run RayCluster: where it is in Kubernetes and where Ray listens."""

    deployment: str
    dag_id: str
    run_id: str
    name: str
    namespace: str
    address: str
    dashboard_url: str = ""
    signature: str | None = None

    def signed(self, key: bytes | None) -> RunClusterHandle:
        if key is None:
            return replace(self, signature=None)
        return replace(self, signature=signing.sign(key, PURPOSE, self._signed_fields()))

    def _signed_fields(self) -> dict[str, Any]:
        fields = asdict(self)
        fields.pop("signature")
        return fields

    def to_xcom(self) -> dict[str, Any]:
        return {MARKER: FORMAT_VERSION, **asdict(self)}

    @classmethod
    def from_xcom(cls, value: Mapping[str, Any]) -> RunClusterHandle:
        """Parse (not yet trust) what the setup task pushed."""
        if value.get(MARKER) != FORMAT_VERSION:
            raise RayReferenceError(
                "ray_cluster is a dict but not the handle RayClusterSetupOperator returns "
                f"(format {value.get(MARKER)!r}); pass the setup task's output "
                "(setup.output), or a Ray address string."
            )
        fields = {k: v for k, v in value.items() if k != MARKER}
        try:
            handle = cls(**fields)
        except TypeError as exc:
            raise RayReferenceError(f"ray_cluster: a malformed cluster handle ({exc}).") from exc
        if not all(isinstance(v, str) for k, v in asdict(handle).items() if k != "signature"):
            raise RayReferenceError("ray_cluster: a malformed cluster handle (non-string field).")
        return handle

    def check(self, key: bytes | None, deployment: str, dag_id: str, run_id: str) -> None:
        """Refuse a handle this deployment did not sign for this DAG run."""
        what = f"The per-run cluster handle {self.name!r} (XCom of {self.dag_id}/{self.run_id})"
        if key is not None and not signing.verify(
            key, PURPOSE, self._signed_fields(), self.signature
        ):
            raise RayReferenceError(
                f"{what} does not carry this deployment's signature: it was edited, or made "
                "by another deployment. Refusing to send the Ray token to its address; clear "
                "the setup task so it runs again."
            )
        if self.deployment != deployment:
            raise RayReferenceError(
                f"{what} belongs to deployment {self.deployment!r}, this is {deployment!r}."
            )
        if (self.dag_id, self.run_id) != (dag_id, run_id):
            raise RayReferenceError(
                f"{what} belongs to another DAG run than this task's ({dag_id}/{run_id}); a "
                "per-run cluster serves only the run that created it."
            )


def resolve_cluster(
    value: Any, *, key: bytes | None, deployment: str, dag_id: str, run_id: str
) -> tuple[str, str] | None:
    """A task's ``ray_cluster`` as ``(address, dashboard_url)``; None: the connection's cluster.

    ``value`` is the setup task's handle (checked), or a Ray address written in the DAG.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value, ""
    if isinstance(value, Mapping):
        handle = RunClusterHandle.from_xcom(value)
        handle.check(key, deployment, dag_id, run_id)
        return handle.address, handle.dashboard_url
    raise RayReferenceError(
        f"ray_cluster is a {type(value).__name__}; pass the setup task's output "
        "(RayClusterSetupOperator(...).output) or a Ray address string."
    )


def signed_handle(value: Any, ti: Any) -> dict[str, Any] | None:
    """``ray_cluster`` as a signed handle, for kwargs that go through the database.

    A trigger's kwargs are stored in the metadata database like XCom, so a trigger must not
    trust an address it finds there: a plain address from the DAG is signed here too.
    """
    if value is None or value == "":
        return None
    if isinstance(value, Mapping):
        return dict(value)
    from ray_provider.client.deployment import current

    deployment = current()
    handle = RunClusterHandle(
        deployment=deployment.id,
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        name="",
        namespace="",
        address=str(value),
    )
    return handle.signed(deployment.key).to_xcom()


def resolve_signed(value: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """A handle from a trigger's kwargs, checked (its own run: the signature binds it)."""
    if not value:
        return None
    from ray_provider.client.deployment import current

    deployment = current()
    return resolve_cluster(
        value,
        key=deployment.key,
        deployment=deployment.id,
        dag_id=str(value.get("dag_id")),
        run_id=str(value.get("run_id")),
    )
