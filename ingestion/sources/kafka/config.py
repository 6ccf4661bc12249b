"""The kafka source's configuration: the brokers, the consumer settings, and per topic
(stream) how its values are encoded."""

from __future__ import annotations

import re
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ingestion.connections import column_name
from ingestion.sources.files import arrow_type

TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
DEFAULT_MAX_MESSAGE_BYTES = 1 << 20
# librdkafka settings that read fast (checked against Tansu and Apache Kafka): big fetches,
# a bounded prefetch queue, so memory stays flat whatever the backlog
FAST_CONSUMER: dict[str, Any] = {
    "fetch.max.bytes": 64 << 20,
    "max.partition.fetch.bytes": 16 << 20,
    "fetch.wait.max.ms": 100,
    "queued.min.messages": 200_000,
    "queued.max.messages.kbytes": 128 << 10,
}


class KafkaStreamOptions(BaseModel):
    """One topic as a stream."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str
    topic: str | None = Field(default=None, description="the topic (default: the stream name)")
    format: Literal["json", "avro"] = "json"
    envelope: Literal["none", "debezium"] = Field(
        default="none",
        description="debezium: values are Debezium change events; they land as rows with "
        "_op (r/c/u/d) and _position, like the postgres_cdc source",
    )
    avro_schema: str | None = Field(
        default=None,
        description="avro: a .avsc file for plain Avro values (without it, values must be "
        "in the Confluent wire format and schema_registry_url is needed)",
    )
    schema_: dict[str, str] = Field(
        default_factory=dict,
        alias="schema",
        description="column: type, declared instead of inferred from the messages "
        "(string, int64, float64, bool, date, timestamp, decimal(p,s))",
    )
    max_message_bytes: int = Field(
        default=DEFAULT_MAX_MESSAGE_BYTES,
        ge=1,
        description="a longer value goes to the DLQ with its size",
    )

    @field_validator("schema_")
    @classmethod
    def _types(cls, value: dict[str, str]) -> dict[str, str]:
        for column, type_name in value.items():
            column_name(column)
            arrow_type(type_name)
        return value

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        if value is not None and not TOPIC_NAME.match(value):
            raise ValueError(f"{value!r} is not a Kafka topic name: letters, digits, . _ -")
        return value

    @property
    def topic_name(self) -> str:
        return self.topic or self.name

    def declared_schema(self) -> pa.Schema | None:
        if not self.schema_:
            return None
        return pa.schema([pa.field(c, arrow_type(t)) for c, t in self.schema_.items()])


class KafkaConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bootstrap_servers: str = Field(description="host:port[,host:port...]")
    group_id: str = Field(
        default="lakehouse",
        description="the consumer group the source commits to after each commit of the "
        "lake, for monitoring only: it resumes from the offsets in the lake's state",
    )
    schema_registry_url: str | None = Field(
        default=None, description="a Confluent-compatible schema registry, for Avro"
    )
    offset_reset: Literal["fail", "earliest", "latest"] = Field(
        default="fail",
        description="when a committed offset is out of range (past retention, or a topic "
        "recreated): stop with an error, or resume from the earliest or latest offset "
        "(recorded in the run)",
    )
    new_partitions: Literal["earliest", "latest"] = Field(
        default="earliest",
        description="where a partition without committed offset starts (a new topic, or "
        "partitions added)",
    )
    max_records: int | None = Field(
        default=None, ge=1, description="stop a read after this many messages (a window)"
    )
    max_seconds: float | None = Field(
        default=None, gt=0, description="stop a read after this many seconds (a window)"
    )
    until_end: bool = Field(
        default=True,
        description="stop once every partition is read to its end (a sync); false: wait "
        "for messages until max_records or max_seconds (a stream window)",
    )
    consumer: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="more librdkafka settings (security, SASL, ...)"
    )
    streams: list[KafkaStreamOptions] = Field(default_factory=list)

    def options(self, stream: str) -> KafkaStreamOptions:
        for options in self.streams:
            if options.name == stream:
                return options
        return KafkaStreamOptions(name=stream)

    def consumer_settings(self) -> dict[str, Any]:
        return {
            **FAST_CONSUMER,
            "bootstrap.servers": self.bootstrap_servers,
            "group.id": self.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            # an offset the broker no longer has is our decision, not librdkafka's
            "auto.offset.reset": "error",
            **self.consumer,
        }


__all__ = ["FAST_CONSUMER", "KafkaConfig", "KafkaStreamOptions"]
