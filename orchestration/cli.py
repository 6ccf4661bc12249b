"""The `lakehouse` command: demo, generate, sync, connections."""

from __future__ import annotations

import argparse
import logging
import sys

from datagen.oltp import OltpError
from ingestion.connections import ConnectionsError, load_connections
from ingestion.sources.files import FilesSourceError
from ingestion.sources.sql import SqlSourceError
from lake import LakeError
from orchestration.settings import Settings

USER_ERRORS = (ConnectionsError, LakeError, OltpError, SqlSourceError, FilesSourceError, ValueError)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from orchestration.demo import run_demo, settings_with

    report = run_demo(
        settings_with(settings, scale=args.scale, seed=args.seed),
        regenerate=args.regenerate,
        log_level="INFO" if args.verbose else "WARNING",
    )
    tests = report.dbt.get("counts", {}).get("test", {})
    failed = tests.get("fail", 0) + tests.get("error", 0)
    return 1 if failed or report.dbt.get("failures") else 0


def _generate(args: argparse.Namespace, settings: Settings) -> int:
    from datagen.__main__ import main as datagen_main

    argv = [
        "--scale",
        str(args.scale or settings.scale),
        "--seed",
        str(args.seed or settings.seed),
        "--oltp-dsn",
        settings.oltp_dsn,
        "--landing",
        settings.landing_url,
    ]
    return datagen_main(argv)


def _sync(args: argparse.Namespace, settings: Settings) -> int:
    from ingestion.sync import sync_connection
    from lake import open_lake

    connections = load_connections(settings.connections_file, settings.interpolation_env())
    if args.connection not in connections.connections:
        names = ", ".join(connections.connections)
        raise ValueError(
            f"no connection {args.connection!r} in {settings.connections_file} (have: {names})"
        )
    result = sync_connection(
        open_lake(settings.lake_url),
        args.connection,
        connections.connections[args.connection],
        streams=args.stream or None,
    )
    for s in result.streams:
        print(
            f"{args.connection}.{s.stream}: read {s.rows_read:,}, bronze {s.rows_written:,}, "
            f"dlq {s.rows_dlq:,}, {s.bytes_written:,} bytes, {s.seconds:.1f} s"
        )
    print(f"sync {result.sync_id}: {result.status}")
    return 0


def _connections(args: argparse.Namespace, settings: Settings) -> int:
    connections = load_connections(settings.connections_file, settings.interpolation_env())
    for name, connection in connections.connections.items():
        streams = ", ".join(s.name for s in connection.streams)
        print(f"{name} ({connection.source}): {streams}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lakehouse", description="The lakehouse pipeline.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="generate sources if needed, run the whole pipeline, summarize"
    )
    demo.add_argument(
        "--scale", type=float, help="1 = 1,000,000 orders (default DATAGEN_SCALE or 0.01)"
    )
    demo.add_argument("--seed", type=int)
    demo.add_argument(
        "--regenerate", action="store_true", help="regenerate the sources even if present"
    )
    demo.set_defaults(handler=_demo)
    gen = sub.add_parser("generate", help="generate the synthetic source systems")
    gen.add_argument("--scale", type=float)
    gen.add_argument("--seed", type=int)
    gen.set_defaults(handler=_generate)
    sync = sub.add_parser("sync", help="sync one connection into bronze")
    sync.add_argument("connection")
    sync.add_argument("--stream", action="append", help="only this stream (repeatable)")
    sync.set_defaults(handler=_sync)
    conns = sub.add_parser("connections", help="validate and list the connections file")
    conns.set_defaults(handler=_connections)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.handler(args, Settings.from_env())
    except USER_ERRORS as exc:
        print(f"lakehouse {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
