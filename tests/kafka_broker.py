"""A real Kafka-protocol broker (Tansu, in memory) on a free port, per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ingestion.streaming.local_broker import LocalBroker


@pytest.fixture(scope="module")
def kafka_broker() -> Iterator[LocalBroker]:
    with LocalBroker() as broker:
        yield broker
