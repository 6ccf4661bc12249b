"""Benchmark: Kafka -> bronze through the kafka source and the sync engine, beside a plain
confluent-kafka consumer that only counts (the client's ceiling), on one local broker
(Tansu, in memory).

1. `--messages` sales events of about 220 bytes (datagen.events) go to a topic of
   `--partitions` partitions.
2. In rounds whose order alternates (a slow spell of the shared machine hits both), each
   in a fresh child process so its peak RSS is its own: the counting consumer (assign,
   large fetches, consume(50000), count) and our sync of the topic into an empty lake.
3. Latency: `datagen.events` publishes at `--rate` msg/s (sales and clickstream) for
   `--seconds` while `lakehouse stream --no-dagster` reads both topics (1 s windows); the
   median and the worst of the windows' event -> bronze p95. (Reporting each window to
   Dagster, the default, adds a few tenths of a second per window.)

Prints messages/s, CPU time per message, peak RSS, the ratio to the ceiling, the latency,
the machine's load and the targets passed or missed; not a test. Usage:
    .venv/bin/python bench/stream_bench.py [--messages 1000000] [--repeat 2] [--rate 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TOPIC = "bench_sales"
TARGET_RATE = 100_000
TARGET_RSS_MIB = 500
TARGET_P95_S = 3.0


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """This process's CPU time (all threads): a busy machine stretches the wall clock, not
    the work done, so CPU per message compares runs better than messages/s."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- child processes --------------------------------------------------------------------------
def child_count(servers: str, messages: int) -> dict:
    from confluent_kafka import Consumer, TopicPartition

    from ingestion.sources.kafka.config import FAST_CONSUMER

    consumer = Consumer({**FAST_CONSUMER, "bootstrap.servers": servers, "group.id": "count",
                         "enable.auto.commit": False})  # fmt: skip
    partitions = consumer.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions
    consumer.assign([TopicPartition(TOPIC, p, 0) for p in partitions])
    started, cpu, seen = time.perf_counter(), cpu_seconds(), 0
    while seen < messages:
        seen += sum(1 for m in consumer.consume(50_000, 1.0) if m.error() is None)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    consumer.close()
    return {"messages": seen, "seconds": seconds, "cpu_s": cpu, "rss_mib": peak_rss_mib()}


def child_lake(servers: str, messages: int, lake_dir: str) -> dict:
    from ingestion.connections import Connection
    from ingestion.sync import sync_connection
    from lake import open_lake

    connection = Connection.model_validate(
        {"source": "kafka", "config": {"bootstrap_servers": servers},
         "streams": [{"name": "sales", "topic": TOPIC, "sync_mode": "incremental"}]}
    )  # fmt: skip
    started, cpu = time.perf_counter(), cpu_seconds()
    result = sync_connection(open_lake(lake_dir), "bench", connection)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    stream = result.streams[0]
    assert stream.rows_written == messages, (stream.rows_written, messages)
    return {
        "messages": stream.rows_written,
        "seconds": seconds,
        "cpu_s": cpu,
        "rss_mib": peak_rss_mib(),
    }


def run_child(kind: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, *args],
        capture_output=True, text=True, check=True, cwd=REPO,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- latency ----------------------------------------------------------------------------------
def latency_run(servers: str, workdir: Path, rate: int, seconds: float) -> dict:
    (workdir / "connections.yml").write_text(
        "connections:\n  live:\n    source: kafka\n    config: {bootstrap_servers: "
        f"'{servers}'}}\n    streams:\n"
        "      - {name: sales_events, sync_mode: incremental}\n"
        "      - {name: clickstream_events, sync_mode: incremental}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "CONNECTIONS_FILE": str(workdir / "connections.yml"),
           "LAKE_URL": str(workdir / "live-lake"), "DATA_DIR": str(workdir)}  # fmt: skip
    subprocess.run(
        [
            sys.executable,
            "-m",
            "datagen.events",
            "--bootstrap-servers",
            servers,
            "--count",
            "1",
            "--rate",
            "0",
        ],
        check=True,
        capture_output=True,
        env=env,
        cwd=REPO,
    )  # fmt: skip  (creates the topics)
    stream = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "stream", "live", "--rotate-seconds", "1",
         "--no-dagster"],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(3)  # the stream's first window is open
    producer = subprocess.run(
        [sys.executable, "-m", "datagen.events", "--bootstrap-servers", servers,
         "--rate", str(rate), "--duration", str(seconds)],
        env=env, cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    time.sleep(3)
    stream.terminate()
    _, errors = stream.communicate(timeout=60)
    if stream.returncode != 0:
        sys.exit(f"lakehouse stream failed: {errors}")
    windows = [
        json.loads(p.read_text())
        for p in (workdir / "live-lake" / "_ops" / "stream_windows" / "live").glob("*.json")
    ]
    busy = [w for w in windows if w["records"]]
    p95s = [w["latency_p95_ms"] / 1000 for w in busy if w["latency_p95_ms"] is not None]
    return {
        "producer": producer.stdout.strip(),
        "windows": len(busy),
        "records": sum(w["records"] for w in busy),
        "p95_median_s": statistics.median(p95s) if p95s else None,
        "p95_worst_s": max(p95s) if p95s else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--child", choices=["count", "lake"])
    parser.add_argument("--servers")
    parser.add_argument("--lake")
    args = parser.parse_args()
    if args.child == "count":
        print(json.dumps(child_count(args.servers, args.messages)))
        return 0
    if args.child == "lake":
        print(json.dumps(child_lake(args.servers, args.messages, args.lake)))
        return 0

    from confluent_kafka.admin import AdminClient, NewTopic

    from datagen.events import Publisher
    from datagen.events_model import Entities, EventMaker
    from ingestion.streaming.local_broker import LocalBroker

    workdir = Path(tempfile.mkdtemp(prefix="stream-bench-"))
    try:
        with LocalBroker() as broker:
            servers = broker.bootstrap_servers
            admin = AdminClient({"bootstrap.servers": servers})
            for future in admin.create_topics([NewTopic(TOPIC, args.partitions)]).values():
                future.result()
            maker = EventMaker(Entities.of_shop(0.01, 42), 7)
            publisher = Publisher(servers)
            started = time.perf_counter()
            for first in range(0, args.messages, 50_000):
                publisher.send(TOPIC, maker.sales(min(50_000, args.messages - first)))
            publisher.flush()
            print(f"produced {args.messages:,} events in {time.perf_counter() - started:.1f} s")
            rounds = []
            for r in range(args.repeat):
                order = ["count", "lake"] if r % 2 == 0 else ["lake", "count"]
                got = {}
                for kind in order:
                    extra = ["--lake", str(workdir / f"lake-{r}")] if kind == "lake" else []
                    got[kind] = run_child(kind, "--servers", servers,
                                          "--messages", str(args.messages), *extra)  # fmt: skip
                    rate = got[kind]["messages"] / got[kind]["seconds"]
                    cpu_us = got[kind]["cpu_s"] / got[kind]["messages"] * 1e6
                    print(f"round {r + 1} {kind:5}: {rate:>10,.0f} msg/s, {cpu_us:.1f} CPU-µs/msg, "
                          f"peak RSS {got[kind]['rss_mib']:.0f} MiB")  # fmt: skip
                rounds.append(got)
            latency = latency_run(servers, workdir, args.rate, args.seconds)
        rates = {
            k: statistics.median(r[k]["messages"] / r[k]["seconds"] for r in rounds)
            for k in ("count", "lake")
        }
        ratios = [
            (r["lake"]["messages"] / r["lake"]["seconds"])
            / (r["count"]["messages"] / r["count"]["seconds"])
            for r in rounds
        ]
        cpu_us = {
            k: statistics.median(r[k]["cpu_s"] / r[k]["messages"] * 1e6 for r in rounds)
            for k in ("count", "lake")
        }
        rss = max(r["lake"]["rss_mib"] for r in rounds)
        print()
        print(f"Kafka -> bronze:      {rates['lake']:>10,.0f} msg/s (median of {len(rounds)})")
        print(f"counting consumer:    {rates['count']:>10,.0f} msg/s (the client's ceiling)")
        print(f"ratio to the ceiling: {statistics.median(ratios):.2f} "
              f"(per round: {', '.join(f'{x:.2f}' for x in ratios)})")  # fmt: skip
        print(f"CPU per message:      {cpu_us['lake']:.1f} µs ours, {cpu_us['count']:.1f} µs "
              "counting (all threads; less sensitive to the machine's load)")  # fmt: skip
        print(f"peak RSS (ours):      {rss:.0f} MiB")
        print(f"latency at {args.rate:,}/s: {latency}")
        print(f"load average: {os.getloadavg()}")
        p95 = latency["p95_median_s"]
        for name, ok in (
            (f">= {TARGET_RATE:,} msg/s", rates["lake"] >= TARGET_RATE),
            (f"RSS < {TARGET_RSS_MIB} MiB", rss < TARGET_RSS_MIB),
            (f"event -> bronze p95 <= {TARGET_P95_S} s", p95 is not None and p95 <= TARGET_P95_S),
        ):
            print(f"target {name}: {'met' if ok else 'MISSED'}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
