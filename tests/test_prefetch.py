"""The background reader: a step ahead, but never past an unhandled checkpoint."""

from __future__ import annotations

import threading

import pytest

from ingestion.prefetch import prefetched


def test_the_reader_waits_at_a_barrier_until_the_consumer_has_handled_it():
    log: list[str] = []
    handled = threading.Event()

    def source():
        yield "batch-1"
        yield "checkpoint"
        # what a CDC source does here (acknowledge a position) needs the commit done
        log.append(f"after checkpoint, committed={handled.is_set()}")
        yield "batch-2"

    for event in prefetched(source(), lambda e: e == "checkpoint"):
        if event == "checkpoint":
            handled.set()
    assert log == ["after checkpoint, committed=True"]


def test_a_source_error_reaches_the_consumer_after_the_events_before_it():
    def source():
        yield 1
        raise ValueError("the database went away")

    seen = []
    with pytest.raises(ValueError, match="went away"):
        for event in prefetched(source(), lambda e: False):
            seen.append(event)
    assert seen == [1]


def test_stopping_early_closes_the_source():
    closed = threading.Event()

    def source():
        try:
            yield from range(1_000_000)
        finally:
            closed.set()

    for event in prefetched(source(), lambda e: False):
        if event == 3:
            break
    assert closed.wait(5)
