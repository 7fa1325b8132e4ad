"""Authenticate what comes back from the bucket or XCom: HMAC-SHA256 with the deployment key.

Checkpoint manifests and XCom references are signed by the Airflow deployment that made them,
with a key that lives in its configuration (a Kubernetes Secret), never next to the data. A
reader recomputes the HMAC over the same canonical JSON before it trusts a single field, so
someone who can write the bucket or edit an XCom row, but does not hold the key, can neither
forge a manifest (and with it the SHA-256 of every part) nor point a task at another value.

Each signature is bound to a purpose ("manifest", "reference"), so a signed object of one kind
cannot be replayed as the other.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

ALGORITHM = "hmac-sha256"
# A key shorter than this is refused: it could be guessed.
MIN_KEY_LENGTH = 32


def canonical(value: Any) -> bytes:
    """The one byte string a JSON value signs as: sorted keys, no spaces, ASCII only."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def digest(value: Any) -> str:
    """SHA-256 of the canonical form: pins one generation of a manifest in a reference."""
    return hashlib.sha256(canonical(value)).hexdigest()


def sign(key: bytes, purpose: str, value: Any) -> str:
    return hmac.new(key, purpose.encode() + b"\0" + canonical(value), hashlib.sha256).hexdigest()


def verify(key: bytes, purpose: str, value: Any, signature: Any) -> bool:
    """True only for the signature ``key`` makes of ``value`` (constant-time comparison)."""
    if not isinstance(signature, str):
        return False
    return hmac.compare_digest(sign(key, purpose, value), signature)


def key_id(key: bytes) -> str:
    """A short, public name of a key (the deployment's identity): reveals nothing of the key."""
    return hmac.new(key, b"ray_provider deployment id", hashlib.sha256).hexdigest()[:16]
