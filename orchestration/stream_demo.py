"""`make demo-stream`: the streaming path end to end on this machine, until Ctrl-C.

A Kafka-protocol broker (Tansu on a free port, unless KAFKA_BOOTSTRAP_SERVERS names one),
`python -m datagen.events` publishing sales and clickstream events at --rate, and
`lakehouse stream events` (connections.streaming.yml) landing them in the lake; each
window's line (events/s, lag, event -> bronze latency) is printed as it closes. Ctrl-C
(or --seconds) stops the producer, then the stream (SIGTERM: it commits its open
window), then the broker. Not done yet: the dbt models and live dashboard over the
events (issue 23, items 6-7)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack

from ingestion.streaming.local_broker import LocalBroker
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orchestration.stream_demo", description=__doc__
    )
    parser.add_argument("--rate", type=float, default=5000, help="events/s published")
    parser.add_argument("--rotate-seconds", type=float, default=2.0, help="seconds per window")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: Ctrl-C)")
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
        try:
            deadline = time.monotonic() + args.seconds if args.seconds else None
            while stream.poll() is None and producer.poll() is None:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        _stop(producer)
        code = _stop(stream)
    print(f"stopped; the stream exited {code}", flush=True)
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
