"""`python -m datagen.events`: publish a live stream of the marketplace to Kafka.

    python -m datagen.events --bootstrap-servers 127.0.0.1:9092 --rate 10000 --duration 60

Sales events (topic `sales_events`) and clickstream events (`clickstream_events`) keyed
by customer (so one customer's events stay in order in one partition), at `--rate`
events per second in total (0: as fast as the client goes). With `--cdc orders` the
shop's table goes out as Debezium change events on `shop.orders` instead: its snapshot,
then live changes. Topics are created when missing. Stops after --count events or
--duration seconds, or on Ctrl-C, and prints what it sent."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from datagen.events_cdc import ChangeFeed
from datagen.events_model import Entities, EventMaker

TICK_S = 0.05


def ensure_topics(servers: str, topics: list[str], partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": servers})
    existing = admin.list_topics(timeout=10).topics
    wanted = [NewTopic(t, partitions) for t in topics if t not in existing]
    for _topic, future in admin.create_topics(wanted).items() if wanted else []:
        try:
            future.result()
        except KafkaException as exc:  # created meanwhile by another producer
            if "already exists" not in str(exc).lower():
                raise


class Publisher:
    def __init__(self, servers: str):
        self.producer = Producer(
            {"bootstrap.servers": servers, "linger.ms": 20, "batch.size": 1 << 20,
             "queue.buffering.max.messages": 1_000_000}
        )  # fmt: skip
        self.sent = 0

    def send(self, topic: str, pairs) -> None:
        for key, value in pairs:
            while True:
                try:
                    self.producer.produce(topic, value=value, key=key)
                    break
                except BufferError:  # the local queue is full: let it drain
                    self.producer.poll(0.05)
            self.sent += 1
        self.producer.poll(0)

    def flush(self) -> None:
        self.producer.flush(30)


def run(args: argparse.Namespace) -> int:
    publisher = Publisher(args.bootstrap_servers)
    if args.cdc:
        feed = ChangeFeed(args.cdc, args.scale, args.seed)
        topic = f"{args.topic_prefix}shop.{args.cdc}"
        ensure_topics(args.bootstrap_servers, [topic], args.partitions)
        publisher.send(topic, feed.snapshot())
        make = {topic: feed.changes}
    else:
        maker = EventMaker(Entities.of_shop(args.scale, args.seed), args.seed, args.bad_rate)
        sales, clicks = f"{args.topic_prefix}sales_events", f"{args.topic_prefix}clickstream_events"
        ensure_topics(args.bootstrap_servers, [sales, clicks], args.partitions)
        make = {sales: maker.sales, clicks: maker.clicks}
    started = time.monotonic()
    per_tick = max(1, int(args.rate * TICK_S)) if args.rate else 10_000
    sent_before = publisher.sent
    try:
        while True:
            elapsed = time.monotonic() - started
            done = publisher.sent - sent_before
            if (args.duration and elapsed >= args.duration) or (args.count and done >= args.count):
                break
            budget = per_tick if not args.count else min(per_tick, args.count - done)
            for j, (topic, events) in enumerate(make.items()):  # the topics share it evenly
                n = budget // len(make) + (1 if j < budget % len(make) else 0)
                if n > 0:
                    publisher.send(topic, events(n))
            if args.rate:  # hold the rate: sleep until this many events are due
                due = (publisher.sent - sent_before) / args.rate
                pause = due - (time.monotonic() - started)
                if pause > 0:
                    time.sleep(pause)
    except KeyboardInterrupt:
        pass
    publisher.flush()
    seconds = time.monotonic() - started
    sent = publisher.sent - sent_before
    print(f"sent {sent:,} events to {', '.join(make)} in {seconds:.1f} s "
          f"({sent / max(seconds, 1e-9):,.0f}/s)")  # fmt: skip
    return 0


def _stop_on_sigterm() -> None:
    """SIGTERM stops the producer as Ctrl-C does (what was produced is flushed, the summary
    printed, exit 0), whatever the launching process left ignored or blocked: in a
    whole-suite test run a producer once outlived SIGTERM until the 60 s kill."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m datagen.events",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--bootstrap-servers", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or "127.0.0.1:9092"
    )
    parser.add_argument("--rate", type=float, default=1000, help="events/s in all (0: no limit)")
    parser.add_argument("--count", type=int, help="stop after this many events")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument(
        "--cdc",
        choices=["orders", "customers", "products"],
        help="publish this shop table's changes as Debezium events instead",
    )
    parser.add_argument("--partitions", type=int, default=3, help="for topics it creates")
    parser.add_argument("--topic-prefix", default="", help="prepended to every topic name")
    parser.add_argument("--bad-rate", type=float, default=0.0, help="share of values cut short")
    parser.add_argument(
        "--scale", type=float, default=float(os.environ.get("DATAGEN_SCALE") or 0.01)
    )
    parser.add_argument("--seed", type=int, default=int(os.environ.get("DATAGEN_SEED") or 42))
    args = parser.parse_args(argv)
    if args.rate < 0 or (args.count is not None and args.count < 0):
        parser.error("--rate and --count must not be negative")
    _stop_on_sigterm()
    try:
        return run(args)
    except KafkaException as exc:
        print(f"datagen.events: Kafka at {args.bootstrap_servers}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
