"""Checksums of checkpoint parts: SHA-256, computed as the bytes stream by.

A part's SHA-256 sits in the manifest, and the manifest is signed with the deployment key
(``signing``), so a part replaced in the bucket is refused before it is decoded. CRC-32 (used
before format 2) catches damage but not forgery: anyone can write a part with a chosen CRC.
"""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

ALGORITHM = "sha256"


class Checksum(Protocol):
    name: str

    def update(self, data: Any) -> None: ...

    def hexdigest(self) -> str: ...


def new_checksum() -> Checksum:
    return hashlib.sha256()
