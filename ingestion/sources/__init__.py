"""The sources: each turns the streams of one kind of outside system into Arrow batches.

Every source is also a command-line Airbyte connector: `python -m ingestion.sources.<name>`.
"""

from __future__ import annotations

from importlib import import_module

from ingestion.protocol import Source

# source type (as written in the connections file) -> module:class, imported on use
SOURCES: dict[str, str] = {
    "sql": "ingestion.sources.sql:SqlSource",
    "postgres_cdc": "ingestion.sources.postgres_cdc:PostgresCdcSource",
    "files": "ingestion.sources.files:FilesSource",
    "http_api": "ingestion.sources.http_api:HttpApiSource",
    "external": "ingestion.sources.external:ExternalSource",
    "airbyte_managed": "ingestion.sources.airbyte_managed:AirbyteManagedSource",
    "kafka": "ingestion.sources.kafka:KafkaSource",
}


def get_source(name: str) -> Source:
    module, _, cls = SOURCES[name].partition(":")
    return getattr(import_module(module), cls)()
