"""`python -m ingestion.sources.kafka spec|check|discover|read`: the Airbyte connector."""

import sys

from ingestion.airbyte_cli import run
from ingestion.sources.kafka.source import KafkaSource

sys.exit(run(KafkaSource()))
