"""The kafka source (see ingestion.sources.kafka.source)."""

from ingestion.sources.kafka.source import KafkaSource

__all__ = ["KafkaSource"]
