"""`python -m datagen`: generate the demo's source systems."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from datagen.generate import GenerationRequest, generate
from datagen.oltp import OltpError


def main(argv: list[str] | None = None) -> int:
    data_dir = os.environ.get("DATA_DIR") or "data"
    parser = argparse.ArgumentParser(prog="python -m datagen", description=__doc__)
    parser.add_argument(
        "--scale",
        type=float,
        default=float(os.environ.get("DATAGEN_SCALE") or 0.01),
        help="1 = 1,000,000 orders (default: DATAGEN_SCALE or 0.01)",
    )
    parser.add_argument("--seed", type=int, default=int(os.environ.get("DATAGEN_SEED") or 42))
    parser.add_argument(
        "--oltp-dsn", default=os.environ.get("OLTP_DSN") or f"sqlite:///{data_dir}/shop.db"
    )
    parser.add_argument("--landing", default=os.environ.get("LANDING_URL") or f"{data_dir}/landing")
    parser.add_argument(
        "--apply-changes",
        type=float,
        metavar="FRACTION",
        help="instead of generating: insert, update and delete about FRACTION of the orders "
        "in the existing OLTP database (for incremental and CDC syncs)",
    )
    parser.add_argument(
        "--no-deletes", action="store_true", help="with --apply-changes: inserts and updates only"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.apply_changes is not None:
        return _apply_changes(args)
    try:
        result = generate(GenerationRequest(args.scale, args.seed, args.oltp_dsn, args.landing))
    except (OltpError, ValueError) as exc:
        print(f"datagen: {exc}", file=sys.stderr)
        return 2
    for name, count in result.rows.items():
        print(f"{name:>20} {count:>12,}")
    print(f"generated in {result.seconds:.1f} s")
    return 0


def _apply_changes(args: argparse.Namespace) -> int:
    from datagen.changes import apply_changes

    try:
        changes = apply_changes(
            args.oltp_dsn, args.apply_changes, args.seed, deletes=not args.no_deletes
        )
    except (OltpError, ValueError) as exc:
        print(f"datagen: {exc}", file=sys.stderr)
        return 2
    print(
        f"orders inserted {changes.inserted:,}, updated {changes.updated:,}, "
        f"deleted {changes.deleted:,} at {changes.changed_at}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
