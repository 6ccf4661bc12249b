"""A batch of Kafka messages as Arrow columns: where each came from (partition, offset,
timestamp, key, headers) and the raw values, in one pass over the client's objects.

confluent-kafka hands out one Python object per message: reading their fields is the
one per-message loop the source cannot avoid; everything after it is columnar."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import pyarrow as pa
import pyarrow.compute as pc

PARTITION = "_kafka_partition"
OFFSET = "_kafka_offset"
TIMESTAMP = "_kafka_timestamp"
KEY = "_kafka_key"
HEADERS = "_kafka_headers"
METADATA_FIELDS = [
    pa.field(PARTITION, pa.int32()),
    pa.field(OFFSET, pa.int64()),
    pa.field(TIMESTAMP, pa.timestamp("ms", tz="UTC")),
    pa.field(KEY, pa.string()),
    pa.field(HEADERS, pa.string()),
]


@dataclass
class MessageBatch:
    """Messages of one topic, in the order they arrived."""

    topic: str
    metadata: pa.Table  # the columns of METADATA_FIELDS
    values: list[bytes | None]

    @property
    def num_rows(self) -> int:
        return len(self.values)

    def partitions(self) -> list[int]:
        return pc.unique(self.metadata.column(PARTITION)).to_pylist()

    def take(self, indices: list[int]) -> MessageBatch:
        return MessageBatch(
            self.topic,
            self.metadata.take(pa.array(indices, pa.int64())),
            [self.values[i] for i in indices],
        )

    def where(self, i: int) -> str:
        """`topic[partition]@offset` of the i-th message, for the DLQ and errors."""
        partition = self.metadata.column(PARTITION)[i].as_py()
        offset = self.metadata.column(OFFSET)[i].as_py()
        return f"{self.topic}[{partition}]@{offset}"


def _headers_json(headers: list | None) -> str | None:
    if not headers:
        return None
    return orjson.dumps(
        {k: (v.decode("utf-8", "replace") if v is not None else None) for k, v in headers}
    ).decode()


def _text(keys: list[bytes | None]) -> pa.Array:
    """Keys as text; one that is not UTF-8 keeps its bytes as replacement characters."""
    if not any(keys):
        return pa.nulls(len(keys), pa.string())
    try:
        return pa.array(keys, pa.binary()).cast(pa.string())
    except pa.ArrowInvalid:
        return pa.array([k.decode("utf-8", "replace") if k is not None else None for k in keys])


def message_batch(topic: str, messages: list) -> MessageBatch:
    """The batch of messages (confluent_kafka.Message, all of `topic`, none an error)."""
    keys = [m.key() for m in messages]
    headers = [m.headers() for m in messages]
    metadata = pa.table(
        [
            pa.array([m.partition() for m in messages], pa.int32()),
            pa.array([m.offset() for m in messages], pa.int64()),
            pa.array([m.timestamp()[1] for m in messages], pa.int64()).cast(
                METADATA_FIELDS[2].type
            ),
            _text(keys),
            pa.array([_headers_json(h) for h in headers], pa.string())
            if any(headers)
            else pa.nulls(len(headers), pa.string()),
        ],
        schema=pa.schema(METADATA_FIELDS),
    )
    return MessageBatch(topic, metadata, [m.value() for m in messages])


__all__ = ["HEADERS", "KEY", "METADATA_FIELDS", "OFFSET", "PARTITION", "TIMESTAMP", "MessageBatch"]
