"""The kafka source: topics as streams, read from the offsets committed in the lake.

Each message lands as a row: the value's fields (JSON or Avro; Debezium change events
unwrapped into the row and `_op`/`_position`), and where it came from: `_kafka_partition`,
`_kafka_offset`, `_kafka_timestamp`, `_kafka_key`, `_kafka_headers`. A stream's schema is
declared (`schema`) or inferred from the messages, and held by the drift policy like any
other stream. Streams are incremental by nature: their state is the next offset of every
partition (see ingestion.sources.kafka.reading)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import pyarrow as pa
from airbyte_protocol.models import (
    AirbyteCatalog,
    AirbyteStream,
    ConfiguredAirbyteCatalog,
    SyncMode,
)
from confluent_kafka import Consumer

from ingestion.protocol import ReadEvent, Records, Source, SourceError, json_schema_of
from ingestion.sources.kafka.config import KafkaConfig
from ingestion.sources.kafka.reading import read_topics

DISCOVER_SAMPLE = 1_000  # messages per topic to infer a schema from


class KafkaSource(Source[KafkaConfig]):
    name: ClassVar[str] = "kafka"
    config_model: ClassVar[type[KafkaConfig]] = KafkaConfig
    source_defined_cursor: ClassVar[bool] = True

    def check(self, config: KafkaConfig) -> None:
        consumer = Consumer(config.consumer_settings())
        try:
            metadata = consumer.list_topics(timeout=10)
        except Exception as exc:
            raise SourceError(
                f"Kafka at {config.bootstrap_servers} does not answer: {exc}"
            ) from exc
        finally:
            consumer.close()
        missing = [s.topic_name for s in config.streams if s.topic_name not in metadata.topics]
        if missing:
            raise SourceError(f"Kafka at {config.bootstrap_servers}: no topic {', '.join(missing)}")

    def _stream_names(self, config: KafkaConfig) -> list[str]:
        if config.streams:
            return [s.name for s in config.streams]
        consumer = Consumer(config.consumer_settings())
        try:
            topics = consumer.list_topics(timeout=10).topics
        finally:
            consumer.close()
        return sorted(t for t in topics if not t.startswith("_"))

    def discover(self, config: KafkaConfig) -> AirbyteCatalog:
        """Every configured topic (or every topic), its schema inferred from a sample."""
        names = self._stream_names(config)
        sample = config.model_copy(update={"max_records": DISCOVER_SAMPLE * max(len(names), 1)})
        schemas: dict[str, list[pa.Schema]] = {n: [] for n in names}
        for event in read_topics(sample, names, {}, commit_group=False):
            if isinstance(event, Records):
                schemas[event.stream].append(event.data.schema)
        streams = []
        for name in names:
            found = schemas[name]
            schema = (
                pa.unify_schemas(found, promote_options="permissive") if found else pa.schema([])
            )
            streams.append(
                AirbyteStream(
                    name=name,
                    json_schema=json_schema_of(schema),
                    supported_sync_modes=[SyncMode.incremental],
                    source_defined_cursor=True,
                    default_cursor_field=["_kafka_offset"],
                )
            )
        return AirbyteCatalog(streams=streams)

    def read(
        self,
        config: KafkaConfig,
        catalog: ConfiguredAirbyteCatalog,
        state: Mapping[str, dict[str, Any]],
    ) -> Iterator[ReadEvent]:
        names = [s.stream.name for s in catalog.streams]
        yield from read_topics(config, names, dict(state))


__all__ = ["KafkaSource"]
