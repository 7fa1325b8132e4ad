"""Release one DAG run's results from Ray: ``python -m ray_provider.cli.release DAG RUN [CONN...]``.

Used by the run-end listener (in a child process) and by hand, e.g. for a run whose scheduler
died before the run ended. Without connection ids, ``ray_default`` is used.
"""

from __future__ import annotations

import argparse
import sys

from ray_provider.listeners import release_run_results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ray_provider.cli.release", description=__doc__)
    parser.add_argument(
        "--ended-at",
        type=float,
        default=None,
        help="epoch seconds the run ended; results made later are kept (default: now)",
    )
    parser.add_argument("dag_id")
    parser.add_argument("run_id")
    parser.add_argument("conn_ids", nargs="*", default=["ray_default"])
    args = parser.parse_args(argv)
    released = release_run_results(args.dag_id, args.run_id, args.conn_ids, args.ended_at)
    for conn_id in args.conn_ids:
        if conn_id in released:
            print(
                f"released {released[conn_id]} result(s) of {args.dag_id}/{args.run_id} "
                f"on {conn_id}"
            )
        else:
            print(f"could not release on {conn_id} (see the warning above)", file=sys.stderr)
    return 0 if len(released) == len(args.conn_ids) else 1


if __name__ == "__main__":
    sys.exit(main())
