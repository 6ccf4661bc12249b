"""The read loop: consume messages in large batches, decode each topic's share as one
Arrow table, and checkpoint the next offset of every partition.

A read ends when every assigned partition has reported its end (`until_end`, a sync),
after `max_records` messages or `max_seconds` (a stream window), or when the stream is
asked to stop. The engine commits each checkpoint (data, then state) before it asks for
the next event; only then are the offsets also committed to the consumer group, for
monitoring tools: the lake's state is what a read resumes from."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import Consumer, KafkaError, TopicPartition

from ingestion.protocol import Checkpoint, ReadEvent, Records, Rejected, Rejects, SourceError
from ingestion.sources.kafka.avro_values import SchemaRegistry, decode_avro, schema_from_file
from ingestion.sources.kafka.config import KafkaConfig, KafkaStreamOptions
from ingestion.sources.kafka.debezium import decode_events
from ingestion.sources.kafka.json_values import decode_json
from ingestion.sources.kafka.messages import (
    OFFSET,
    PARTITION,
    TIMESTAMP,
    MessageBatch,
    message_batch,
)
from ingestion.sources.kafka.offsets import start_offsets
from ingestion.streaming.control import STOP, WindowFigures, report

log = logging.getLogger(__name__)
CONSUME_MESSAGES = 50_000
POLL_S = 0.2
CHECKPOINT_MESSAGES = 1_000_000  # a long sync commits at least this often
IDLE_END_S = 15.0  # a partition that never reports its end: stop after this long idle


@dataclass
class TopicRead:
    """One stream (topic) during a read."""

    stream: str
    options: KafkaStreamOptions
    decoder: Any
    offsets: dict[str, int]  # partition -> the next offset to read
    resets: list[dict[str, Any]] = field(default_factory=list)
    partitions: set[int] = field(default_factory=set)
    records: int = 0
    skipped_tombstones: int = 0
    timestamps: list[np.ndarray] = field(default_factory=list)

    def state(self) -> dict[str, Any]:
        document: dict[str, Any] = {"offsets": dict(sorted(self.offsets.items()))}
        if self.resets:
            document["resets"] = self.resets
        return document


def _raw_text(value: bytes | None) -> str:
    if value is None:
        return ""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(value).decode()


def _rejects(batch: MessageBatch, bad: list[tuple[int, str]]) -> Rejects:
    bad = sorted(bad)
    offsets = batch.metadata.column(OFFSET)
    return Rejects(
        [_raw_text(batch.values[i]) for i, _ in bad],
        [reason for _, reason in bad],
        [batch.where(i) for i, _ in bad],
        [offsets[i].as_py() for i, _ in bad],
    )


class Decoder:
    """A topic's values (JSON or Avro, plain or Debezium) as rows with the message columns."""

    def __init__(self, config: KafkaConfig, options: KafkaStreamOptions, stream: str):
        self.options, self.stream = options, stream
        self.schema = options.declared_schema() if options.envelope == "none" else None
        self.file_schema = (
            schema_from_file(options.avro_schema, stream) if options.avro_schema else None
        )
        self.registry = (
            SchemaRegistry(config.schema_registry_url) if config.schema_registry_url else None
        )
        if options.format == "avro" and self.file_schema is None and self.registry is None:
            raise SourceError(
                f"stream {stream}: Avro values need avro_schema (a .avsc file) or the "
                "connection's schema_registry_url"
            )

    def decode(self, batch: MessageBatch) -> tuple[list[pa.Table], list[tuple[int, str]], int]:
        """The tables, the bad messages (index, reason), and the tombstones skipped."""
        limit = self.options.max_message_bytes
        keep, bad, tombstones = [], [], 0
        for i, value in enumerate(batch.values):
            if value is None:
                tombstones += 1
            elif len(value) > limit:
                bad.append((i, f"oversize: {len(value):,} bytes (max_message_bytes {limit:,})"))
            else:
                keep.append(i)
        if len(keep) != batch.num_rows:
            batch_values = [batch.values[i] for i in keep]
        else:
            batch_values = batch.values
        if self.options.format == "json":
            decoded = decode_json(batch_values, self.schema)
        else:
            decoded = decode_avro(batch_values, self.file_schema, self.registry)
        bad += [(keep[i], reason) for i, reason in decoded.bad]
        tables = []
        for table, indices in decoded.tables:
            rows = [keep[i] for i in indices]
            tables.append(self._with_metadata(table, batch, rows, bad))
        return [t for t in tables if t.num_rows], bad, tombstones

    def _with_metadata(
        self, table: pa.Table, batch: MessageBatch, rows: list[int], bad: list[tuple[int, str]]
    ) -> pa.Table:
        contiguous = rows == list(range(rows[0], rows[0] + len(rows))) if rows else True
        metadata = (
            batch.metadata.slice(rows[0], len(rows)) if contiguous else batch.take(rows).metadata
        )
        if self.options.envelope == "debezium":
            table, known = decode_events(table, metadata.column(OFFSET).combine_chunks())
            if not pc.all(known).as_py():
                unknown = np.flatnonzero(~known.to_numpy(zero_copy_only=False))
                bad += [(rows[i], "not a Debezium change event (op r/c/u/d)") for i in unknown]
                table, metadata = table.filter(known), metadata.filter(known)
        for f in metadata.schema:
            table = table.append_column(f, metadata.column(f.name))
        return table


def _assign(
    config: KafkaConfig, consumer: Consumer, reads: dict[str, TopicRead]
) -> dict[tuple[str, int], str]:
    """Assign every partition of every topic; returns (topic, partition) -> stream."""
    try:
        metadata = consumer.list_topics(timeout=10)
    except Exception as exc:
        raise SourceError(f"Kafka at {config.bootstrap_servers} does not answer: {exc}") from exc
    assignment: list[TopicPartition] = []
    owners: dict[tuple[str, int], str] = {}
    for name, read in reads.items():
        topic = read.options.topic_name
        found = metadata.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            known = ", ".join(sorted(t for t in metadata.topics if not t.startswith("__")))
            raise SourceError(f"stream {name}: no topic {topic!r} (topics: {known or 'none'})")
        partitions = sorted(found.partitions)
        tps, resets = start_offsets(config, consumer, name, topic, partitions, read.offsets)
        read.resets += resets
        for reset in resets:  # the reset offset is committed with the data, like any other
            read.offsets[str(reset["partition"])] = reset["resumed_at"]
        read.partitions = set(partitions)
        assignment += tps
        owners.update({(topic, p): name for p in partitions})
    consumer.assign(assignment)
    return owners


def read_topics(
    config: KafkaConfig,
    streams: list[str],
    states: dict[str, dict[str, Any]],
    commit_group: bool = True,
) -> Iterator[ReadEvent]:
    """Read the streams from their committed offsets (`states`); `commit_group`: also
    commit the offsets to the consumer group once the lake has them."""
    reads = {}
    for name in streams:
        options = config.options(name)
        offsets = {str(p): int(o) for p, o in (states.get(name) or {}).get("offsets", {}).items()}
        reads[name] = TopicRead(name, options, Decoder(config, options, name), offsets)
    consumer = Consumer(config.consumer_settings())
    try:
        yield from _read(config, consumer if commit_group else None, reads, consumer)
    finally:
        consumer.close()


def _read(
    config: KafkaConfig, group: Consumer | None, reads: dict[str, TopicRead], consumer: Consumer
) -> Iterator[ReadEvent]:
    owners = _assign(config, consumer, reads)
    at_end = {key: False for key in owners}
    started = last_message = time.monotonic()
    total = since_checkpoint = 0
    while True:
        if STOP.is_set():
            break
        elapsed = time.monotonic() - started
        if config.max_seconds is not None and elapsed >= config.max_seconds:
            break
        if config.max_records is not None and total >= config.max_records:
            break
        if config.until_end and all(at_end.values()):
            break
        if config.until_end and time.monotonic() - last_message > IDLE_END_S:
            log.warning(
                "no end reported by %s partitions; ending the read",
                sum(not v for v in at_end.values()),
            )
            break
        wanted = CONSUME_MESSAGES
        if config.max_records is not None:
            wanted = max(1, min(wanted, config.max_records - total))
        messages = consumer.consume(wanted, POLL_S)
        if not messages:
            continue
        last_message = time.monotonic()
        good = [m for m in messages if m.error() is None]
        by_topic: dict[str, list] = {}
        if len(reads) == 1:  # one topic: no need to sort the messages out
            if good:
                by_topic[good[0].topic()] = good
        else:
            for message in good:
                by_topic.setdefault(message.topic(), []).append(message)
        batches = [(t, message_batch(t, topic_messages)) for t, topic_messages in by_topic.items()]
        for topic, batch in batches:  # a partition's end comes after its messages
            for partition in batch.partitions():
                at_end[(topic, partition)] = False
        if len(good) != len(messages):
            _events(messages, at_end)
        for topic, batch in batches:
            read = reads[owners[(topic, batch.metadata.column(PARTITION)[0].as_py())]]
            yield from _decode(read, batch)
            total += batch.num_rows
            since_checkpoint += batch.num_rows
        if since_checkpoint >= CHECKPOINT_MESSAGES:
            yield from _checkpoint(group, reads)
            since_checkpoint = 0
    yield from _checkpoint(group, reads)
    _report(consumer, reads, time.monotonic() - started, owners)


def _events(messages: list, at_end: dict[tuple[str, int], bool]) -> None:
    """The consumer's events among the messages: partition ends, errors."""
    for message in messages:
        error = message.error()
        if error is None:
            continue
        if error.code() == KafkaError._PARTITION_EOF:
            at_end[(message.topic(), message.partition())] = True
        elif error.code() == KafkaError._AUTO_OFFSET_RESET:
            raise SourceError(
                f"{message.topic()}[{message.partition()}]: the broker says the offset is "
                f"out of range ({error.str()}); see offset_reset in docs/streaming.md"
            )
        elif error.fatal():
            raise SourceError(f"Kafka: {error.str()}")
        else:
            log.warning("Kafka: %s", error.str())


def _decode(read: TopicRead, batch: MessageBatch) -> Iterator[ReadEvent]:
    tables, bad, tombstones = read.decoder.decode(batch)
    read.records += batch.num_rows
    read.skipped_tombstones += tombstones
    for table in tables:
        yield Records(read.stream, table)
    if bad:
        yield Rejected(read.stream, _rejects(batch, bad))
    # the next offset per partition: the greatest offset seen + 1
    partitions = batch.metadata.column(PARTITION).to_numpy()
    offsets = batch.metadata.column(OFFSET).to_numpy()
    for partition in np.unique(partitions):
        read.offsets[str(int(partition))] = int(offsets[partitions == partition].max()) + 1
    read.timestamps.append(batch.metadata.column(TIMESTAMP).cast(pa.int64()).to_numpy())


def _checkpoint(group: Consumer | None, reads: dict[str, TopicRead]) -> Iterator[ReadEvent]:
    for read in reads.values():
        yield Checkpoint(read.stream, read.state())
    if group is None:
        return
    # resumed: the engine has committed the lake; tell the group too (monitoring only)
    committed = [
        TopicPartition(read.options.topic_name, int(p), o)
        for read in reads.values()
        for p, o in read.offsets.items()
    ]
    if committed:
        try:
            group.commit(offsets=committed, asynchronous=True)
        except Exception as exc:  # informational: the lake's state is the truth
            log.info("consumer group commit failed: %s", exc)


def _report(consumer: Consumer, reads: dict[str, TopicRead], seconds: float, owners: dict) -> None:
    now_ms = time.time() * 1000
    for read in reads.values():
        figures = WindowFigures(read.stream, read.records, round(seconds, 3), resets=read.resets)
        if read.timestamps:
            latency = now_ms - np.concatenate(read.timestamps)
            p50, p95 = np.percentile(latency, [50, 95])
            figures.latency_p50_ms = round(float(p50), 1)
            figures.latency_p95_ms = round(float(p95), 1)
            figures.latency_max_ms = round(float(latency.max()), 1)
        lag = 0
        for (topic, partition), stream in owners.items():
            if stream != read.stream:
                continue
            try:
                high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), cached=True
                )[1]
            except Exception:
                continue
            position = read.offsets.get(str(partition))
            if high >= 0 and position is not None:
                lag += max(0, high - position)
        figures.lag = lag
        report(figures)


__all__ = ["read_topics"]
