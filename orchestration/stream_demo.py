"""`make demo-stream`: the streaming path end to end on this machine, until Ctrl-C.

A Kafka-protocol broker (Tansu on a free port, unless KAFKA_BOOTSTRAP_SERVERS names one),
`python -m datagen.events` publishing sales and clickstream events at --rate, and
`lakehouse stream events` (connections.streaming.yml) landing them in the lake; each
window's line (events/s, lag, event -> bronze latency) is printed as it closes. Every
--refresh-seconds the live marts are rebuilt and published for Superset's live sales
dashboard (orchestration.live_marts), with a line of the last minute's figures. Ctrl-C
(or --seconds) stops the producer, then the stream (SIGTERM: it commits its open
window), refreshes the marts once more (they then hold every landed sale), then stops
the broker."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack

from ingestion.streaming.local_broker import LocalBroker
from lake import open_lake
from orchestration.live_marts import LiveMartsError, describe, refresh_live_marts
from orchestration.settings import REPO_ROOT, Settings


def _start(command: list[str], env: dict[str, str], **kwargs) -> subprocess.Popen:
    # a session of its own: the terminal's Ctrl-C reaches this process only, which then
    # stops the children in order
    return subprocess.Popen(command, env=env, cwd=REPO_ROOT, start_new_session=True, **kwargs)


def _stop(process: subprocess.Popen, timeout: float = 60) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def _refresh(settings: Settings) -> None:
    try:
        print(describe(refresh_live_marts(settings, open_lake(settings.lake_url))), flush=True)
    except LiveMartsError as error:  # the stream goes on; the next refresh tries again
        print(f"marts: {error}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orchestration.stream_demo", description=__doc__
    )
    parser.add_argument("--rate", type=float, default=5000, help="events/s published")
    parser.add_argument("--rotate-seconds", type=float, default=2.0, help="seconds per window")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: Ctrl-C)")
    parser.add_argument(
        "--refresh-seconds",
        type=float,
        default=15.0,
        help="rebuild and publish the live marts this often (0: never)",
    )
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    env = {**os.environ, "CONNECTIONS_FILE": str(REPO_ROOT / "connections.streaming.yml")}
    with ExitStack() as stack:
        servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not servers:
            servers = stack.enter_context(LocalBroker()).bootstrap_servers
            print(f"broker: Tansu on {servers}", flush=True)
        env["KAFKA_BOOTSTRAP_SERVERS"] = servers
        print(f"lake: {settings.lake_url}; Ctrl-C stops", flush=True)
        python = [sys.executable, "-m"]
        producer = _start(
            [*python, "datagen.events", "--rate", str(args.rate), "--partitions", "3"],
            env,
            stdout=subprocess.DEVNULL,
        )
        time.sleep(2)  # the producer creates the topics
        stream = _start(
            [*python, "orchestration.cli", "stream", "events", "--rotate-seconds",
             str(args.rotate_seconds), "--max-latency", "60"],
            env,
        )  # fmt: skip
        refresh = args.refresh_seconds > 0
        try:
            now = time.monotonic()
            deadline = now + args.seconds if args.seconds else None
            next_refresh = now + args.refresh_seconds
            while stream.poll() is None and producer.poll() is None:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                if refresh and now >= next_refresh:
                    _refresh(settings)
                    next_refresh = time.monotonic() + args.refresh_seconds
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        _stop(producer)
        code = _stop(stream)
        if refresh and code == 0:
            _refresh(settings)
    print(f"stopped; the stream exited {code}", flush=True)
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
