"""The `lakehouse` command: demo, generate, sync, dlq, stream, connections, lake, serving,
doctor."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from datagen.oltp import OltpError
from ingestion.connections import ConnectionsError, load_connections
from ingestion.drift import SchemaDriftError
from ingestion.protocol import SourceError, SourceUnavailableError
from ingestion.records import ReconciliationError
from ingestion.running import ConnectionBusyError
from lake import LakeError
from orchestration.settings import Settings
from orchestration.warehouse_check import WarehouseError

USER_ERRORS = (
    ConnectionBusyError,
    ConnectionsError,
    LakeError,
    OltpError,
    WarehouseError,
    SourceError,
    SchemaDriftError,
    ReconciliationError,
    ValueError,
)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from orchestration.demo import run_demo, settings_with

    report = run_demo(
        settings_with(settings, scale=args.scale, seed=args.seed),
        regenerate=args.regenerate,
        verbose=args.verbose,
    )
    tests = report.dbt.get("counts", {}).get("test", {})
    failed = tests.get("fail", 0) + tests.get("error", 0)
    return 1 if failed or report.dbt.get("failures") or report.failed_steps else 0


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


def _load(settings: Settings):
    return load_connections(settings.connections_file, settings.interpolation_env())


def _connection(connections, name: str, settings: Settings):
    if name not in connections.connections:
        names = ", ".join(connections.connections)
        raise ValueError(f"no connection {name!r} in {settings.connections_file} (have: {names})")
    return connections.connections[name]


def _sync(args: argparse.Namespace, settings: Settings) -> int:
    from lake import open_lake
    from orchestration.assets.ingestion import record_sync
    from orchestration.instance import persistent_instance
    from orchestration.sync_command import run_sync

    connections = _load(settings)
    connection = _connection(connections, args.connection, settings)
    result = run_sync(
        open_lake(settings.lake_url),
        args.connection,
        connection,
        streams=args.stream or None,
        full_refresh=args.full_refresh,
    )
    with persistent_instance(settings) as instance:  # the UI shows the CLI's syncs too
        record_sync(instance, result)
    return 0 if result.status == "succeeded" else 1


def _dlq(args: argparse.Namespace, settings: Settings) -> int:
    from lake import open_lake
    from orchestration.dlq_command import dlq

    connection = _connection(_load(settings), args.connection, settings)
    return dlq(args.action, open_lake(settings.lake_url), args.connection, connection, args)


def _stream(args: argparse.Namespace, settings: Settings) -> int:
    from ingestion.streaming.loop import StreamSettings
    from lake import open_lake
    from orchestration.instance import persistent_instance
    from orchestration.stream_command import DagsterReporter, stream

    connection = _connection(_load(settings), args.connection, settings)
    options = StreamSettings(
        args.flush_size, args.rotate_seconds, args.max_lag, args.max_latency, args.until_caught_up
    )
    instance = None if args.no_dagster else persistent_instance(settings)
    lake = open_lake(settings.lake_url)
    return stream(lake, args.connection, connection, options, DagsterReporter(instance))


def _connections(args: argparse.Namespace, settings: Settings) -> int:
    from orchestration import connections_command as commands
    from orchestration.sync_command import stdout_console

    if args.action == "discover" and args.source:
        config = json.loads(Path(args.config).read_text(encoding="utf-8")) if args.config else {}
        document = commands.starter_file(args.name or args.source, args.source, config)
        commands.print_starter(document, args.write)
        return 0
    connections = _load(settings)
    if args.action == "list":
        stdout_console().print(commands.list_connections(connections))
        return 0
    if args.action == "check":
        for name in args.names:
            _connection(connections, name, settings)
        table, ok = commands.check_connections(connections, args.names)
        stdout_console().print(table)
        return 0 if ok else 1
    if not args.name:
        raise ValueError("connections discover: name a connection, or give --source and --config")
    connection = _connection(connections, args.name, settings)
    document = commands.starter_file(args.name, connection.source, connection.source_config())
    commands.print_starter(document, args.write)
    return 0


def _lake(args: argparse.Namespace, settings: Settings) -> int:
    from orchestration.lake_command import lake_maintain

    return lake_maintain(settings, args.retention_days, args.dry_run)


def _serving(args: argparse.Namespace, settings: Settings) -> int:
    from lake import open_lake
    from orchestration.serving_command import serving

    lake = open_lake(settings.lake_url, create=False)
    return serving(args.action, lake, settings.table_catalog(lake.uri()), settings)


def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    from orchestration.doctor import doctor

    return doctor(settings)


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
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show Dagster's and dbt's logs instead of one line per stage",
    )
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
    sync.add_argument(
        "--full-refresh",
        action="store_true",
        help="forget the state: read everything again and replace the streams' bronze files",
    )
    sync.set_defaults(handler=_sync)
    dead = sub.add_parser("dlq", help="list, show or replay a connection's dead letters")
    dead.add_argument("action", choices=["list", "show", "replay"])
    dead.add_argument("connection")
    dead.add_argument("--stream", action="append", help="only this stream (repeatable)")
    dead.add_argument("--limit", type=int, default=50, help="show: records per stream")
    dead.set_defaults(handler=_dlq)
    streamer = sub.add_parser("stream", help="stream a kafka connection into bronze until stopped")
    streamer.add_argument("connection")
    streamer.add_argument("--flush-size", type=int, default=500_000, help="messages per window")
    streamer.add_argument("--rotate-seconds", type=float, default=10.0, help="seconds per window")
    streamer.add_argument("--max-lag", type=int, help="alert when lag passes this many messages")
    streamer.add_argument("--max-latency", type=float, help="alert when p95 latency passes (s)")
    streamer.add_argument(
        "--until-caught-up", action="store_true", help="stop after a window that ends with no lag"
    )
    streamer.add_argument(
        "--no-dagster", action="store_true", help="do not report windows to the Dagster instance"
    )
    streamer.set_defaults(handler=_stream)
    conns = sub.add_parser("connections", help="list, check or discover connections")
    actions = conns.add_subparsers(dest="action")
    actions.add_parser("list", help="the connections and their streams")
    check = actions.add_parser("check", help="ask each source whether it can be read")
    check.add_argument("names", nargs="*", help="connections to check (default: all)")
    discover = actions.add_parser(
        "discover", help="the streams a source offers, as a starter connections file"
    )
    discover.add_argument("name", nargs="?", help="a connection of the file (or the new name)")
    discover.add_argument("--source", help="a source type, for a connection not in the file")
    discover.add_argument("--config", help="a JSON file with that source's config")
    discover.add_argument("--write", metavar="FILE", help="write the starter file here")
    conns.set_defaults(handler=_connections, action="list")
    lake = sub.add_parser("lake", help="maintain the lake's tables (silver and gold)")
    lake_actions = lake.add_subparsers(dest="action", required=True)
    maintain = lake_actions.add_parser(
        "maintain", help="expire old snapshots, compact small files, delete unread files"
    )
    maintain.add_argument("--dry-run", action="store_true", help="say what it would do")
    maintain.add_argument(
        "--retention-days",
        type=float,
        help="expire snapshots older than N days (LAKE_RETENTION_DAYS)",
    )
    lake.set_defaults(handler=_lake)
    served = sub.add_parser(
        "serving", help="the published gold snapshot the dashboards read; roll it back"
    )
    served.add_argument(
        "action",
        nargs="?",
        default="status",
        choices=("status", "rollback", "reattach"),
        help="status: the served snapshot and the history; rollback: serve the previous "
        "publish; reattach: serve from the lake where it is now, after the data folder moved",
    )
    served.set_defaults(handler=_serving)
    doctor = sub.add_parser(
        "doctor", help="print the settings in effect and whether each service answers"
    )
    doctor.set_defaults(handler=_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # Dagster's console logger prints its runs' lines already; through the root handler
    # above each would show twice
    logging.getLogger("dagster").propagate = False
    try:
        return args.handler(args, Settings.from_env())
    except SourceUnavailableError as exc:  # a failed sync, not bad input: rerun later
        print(f"lakehouse {args.command}: {exc}", file=sys.stderr)
        return 1
    except USER_ERRORS as exc:
        print(f"lakehouse {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
