"""The small JSON reference that ``@task.ray`` stores in XCom instead of the value itself."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# The key that marks a dict in XCom as one of our references; its value is the format version.
MARKER = "__ray_provider_result__"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class RayResultRef:
    """Where a task's result lives: the registry key plus what a reader needs to know."""

    key: str
    namespace: str
    ray_conn_id: str
    result_type: str = ""
    size: int = 0
    checkpoint_uri: str | None = None
    checkpoint_conn_id: str | None = None

    def to_xcom(self) -> dict[str, Any]:
        return {MARKER: FORMAT_VERSION, **asdict(self)}

    @classmethod
    def from_xcom(cls, value: Any) -> RayResultRef | None:
        """Parse an XCom value; ``None`` when it is not one of our references."""
        if not isinstance(value, dict) or MARKER not in value:
            return None
        fields = {k: v for k, v in value.items() if k != MARKER}
        return cls(**{k: fields[k] for k in cls.__dataclass_fields__ if k in fields})

    @property
    def task_id(self) -> str:
        """The producing task, read from the key ``dag/run/task/map_index``."""
        return self.key.rsplit("/", 2)[-2]

    @property
    def run_key(self) -> str:
        return self.key.rsplit("/", 2)[0]
