"""Can this machine reach the checkpoint store, and with which credentials? (``helm test``)

Run as ``python -m ray_provider.runtime.store_check`` in a pod with the Ray pods' identity
and environment: it resolves credentials exactly as a Ray worker's checkpoint write does
(``S3Store`` with the credential chain: the environment's keys, the AWS chain, or Google's
for GCS), says which source answered, and lists an empty prefix of the bucket, which fails
on a missing bucket or refused credentials the way a checkpoint would, but writes nothing.

Environment: ``S3_ENDPOINT`` (``http(s)://HOST[:PORT]``; empty: AWS S3), ``S3_REGION``,
``S3_BUCKET``, and optionally ``S3_CREDENTIAL_CHAIN`` (``auto``, ``aws``, ``google``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from ray_provider.runtime.errors import CheckpointError, CheckpointStoreError
from ray_provider.runtime.store import S3Store, StoreConfig

# A prefix no checkpoint uses: listing it reads nothing, but needs the bucket and the rights.
PROBE_PREFIX = ".ray-platform-store-check/"


def check_store(environ: Mapping[str, str]) -> list[str]:
    """The lines to print for a store that answers; raises ``CheckpointError`` otherwise."""
    if not environ.get("S3_BUCKET"):
        raise ValueError("S3_BUCKET is not set: name the checkpoint bucket to check")
    endpoint = environ.get("S3_ENDPOINT") or None
    config = StoreConfig.for_endpoint(
        endpoint,
        environ["S3_BUCKET"],
        region=environ.get("S3_REGION") or None,
        credential_chain=True,
        credential_chain_kind=environ.get("S3_CREDENTIAL_CHAIN") or "auto",
        attempts=3,
    )
    store = S3Store(config)
    try:
        store.list(PROBE_PREFIX)
    except CheckpointError:
        raise
    except Exception as exc:  # an S3 answer, passed through by the store as it is
        code = getattr(exc, "code", "") or type(exc).__name__
        fix = (
            f"create bucket {config.bucket!r} (the bucket Job does in the cluster's own store)"
            if code == "NoSuchBucket"
            else "see the store's message"
        )
        raise CheckpointStoreError(
            f"listing {config.uri(PROBE_PREFIX)} at {config.endpoint_url}: {code}: "
            f"{getattr(exc, 'message', exc)}; {fix}."
        ) from exc
    return [
        f"store credentials: {store.config.credential_source or 'none (anonymous)'}",
        f"store: bucket {config.bucket!r} at {config.endpoint} answers",
    ]


def main() -> int:
    try:
        lines = check_store(os.environ)
    except (CheckpointError, ValueError) as exc:
        print(f"store check failed: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
