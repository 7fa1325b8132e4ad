"""List or delete checkpoints: ``python -m ray_provider.cli.checkpoints list|delete ...``.

Examples::

    python -m ray_provider.cli.checkpoints list --conn-id s3_checkpoints --dag-id higgs_xgboost
    python -m ray_provider.cli.checkpoints delete --conn-id s3_checkpoints --dag-id higgs_xgboost \\
        --run-id manual__2026-11-25T16:00:00+00:00

Nothing is ever deleted except by this command or ``CheckpointStoreHook.delete_checkpoints``.
"""

from __future__ import annotations

import argparse
import sys

from ray_provider.client.units import human_size
from ray_provider.hooks.checkpoint_store import CheckpointStoreHook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ray_provider.cli.checkpoints",
        description="List or delete the checkpoints that @task.ray(checkpoint=True) wrote.",
    )
    parser.add_argument("action", choices=["list", "delete"])
    parser.add_argument("--conn-id", default="aws_default", help="the aws connection")
    parser.add_argument("--path", help="s3://BUCKET/PREFIX instead of the connection's")
    parser.add_argument("--dag-id")
    parser.add_argument("--run-id")
    parser.add_argument("--yes", action="store_true", help="delete without asking")
    args = parser.parse_args(argv)

    hook = CheckpointStoreHook(args.conn_id, args.path)
    if args.action == "list":
        checkpoints = hook.list_checkpoints(args.dag_id, args.run_id)
        for checkpoint in checkpoints:
            print(
                f"{checkpoint['uri']}\t{human_size(checkpoint['size'])}\t"
                f"{checkpoint['modified']:%Y-%m-%d %H:%M:%S}"
            )
        total = sum(c["size"] for c in checkpoints)
        print(f"{len(checkpoints)} checkpoint(s), {human_size(total)}", file=sys.stderr)
        return 0
    if not args.dag_id:
        parser.error("delete needs --dag-id (and usually --run-id)")
    scope = f"{args.dag_id}/{args.run_id}" if args.run_id else f"every run of {args.dag_id}"
    if not args.yes:
        if not sys.stdin.isatty():
            parser.error(f"refusing to delete the checkpoints of {scope} without --yes")
        if input(f"Delete the checkpoints of {scope}? [y/N] ").strip().lower() != "y":
            return 1
    removed = hook.delete_checkpoints(args.dag_id, args.run_id)
    print(f"deleted {removed} object(s) of {scope}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
