"""Where each partition's read starts: the offset after the last one committed with the
data in the lake. A partition without one (a new topic, partitions added) starts at the
earliest or latest offset. A committed offset the broker no longer has (past retention,
or beyond the end of a topic that was recreated) is out of range: the read stops with an
error saying what to do, or resumes at the configured end, and the reset is kept in the
stream's state (so in the run record)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, TopicPartition

from ingestion.protocol import SourceError
from ingestion.sources.kafka.config import KafkaConfig

log = logging.getLogger(__name__)
TIMEOUT_S = 10.0


class OffsetOutOfRangeError(SourceError):
    """A committed offset is not in the partition any more."""


def _watermarks(consumer: Consumer, tp: TopicPartition) -> tuple[int, int]:
    try:
        return consumer.get_watermark_offsets(tp, timeout=TIMEOUT_S, cached=False)
    except Exception as exc:  # KafkaException: the broker did not answer
        raise SourceError(f"{tp.topic}[{tp.partition}]: cannot read its offsets: {exc}") from exc


def _fetched_high(config: KafkaConfig, tp: TopicPartition, low: int) -> int:
    """The partition's end as a fetch reports it. Some brokers (Tansu) answer ListOffsets
    with the start of the last record batch, not its end; a fetch is always right."""
    probe = Consumer({**config.consumer_settings(), "group.id": f"{config.group_id}-probe"})
    try:
        probe.assign([TopicPartition(tp.topic, tp.partition, low)])
        for _ in range(50):
            for message in probe.consume(1, 0.2):
                error = message.error()
                if error is None or error.code() == KafkaError._PARTITION_EOF:
                    return probe.get_watermark_offsets(tp, cached=True)[1]
        return -1
    finally:
        probe.close()


def start_offsets(
    config: KafkaConfig,
    consumer: Consumer,
    stream: str,
    topic: str,
    partitions: list[int],
    committed: dict[str, int],
) -> tuple[list[TopicPartition], list[dict[str, Any]]]:
    """The assignment of one topic's partitions, and the resets it needed."""
    assignment, resets = [], []
    for partition in partitions:
        offset = committed.get(str(partition))
        tp = TopicPartition(topic, partition)
        if offset is None:
            start = OFFSET_BEGINNING if config.new_partitions == "earliest" else OFFSET_END
            assignment.append(TopicPartition(topic, partition, start))
            continue
        low, high = _watermarks(consumer, tp)
        if offset > high:
            high = max(high, _fetched_high(config, tp, low))
        if low <= offset <= high:
            assignment.append(TopicPartition(topic, partition, offset))
            continue
        what = (
            f"stream {stream}: the committed offset {offset} of {topic}[{partition}] is out of "
            f"range (the partition holds {low}..{high}): "
            + (
                "messages past retention were never read"
                if offset < low
                else "was the topic recreated?"
            )
        )
        if config.offset_reset == "fail":
            raise OffsetOutOfRangeError(
                f"{what}; set offset_reset: earliest or latest in the connection to resume "
                "there (the gap is recorded in the run)"
            )
        to = low if config.offset_reset == "earliest" else high
        log.warning("%s; resuming at %s (offset_reset: %s)", what, to, config.offset_reset)
        resets.append(
            {
                "partition": partition,
                "committed": offset,
                "low": low,
                "high": high,
                "resumed_at": to,
                "policy": config.offset_reset,
                "at": datetime.now(UTC).isoformat(),
            }
        )
        assignment.append(TopicPartition(topic, partition, to))
    return assignment, resets


__all__ = ["OffsetOutOfRangeError", "start_offsets"]
