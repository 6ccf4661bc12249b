"""Read a source on its own thread, a step ahead of the writer.

Reading (the database driver, a file parser) and writing Parquet both release the GIL, so
running them on two threads overlaps them. The queue is short, so memory stays at a couple
of batches. A barrier event (a checkpoint) holds the reader until the writer has handled
it: code a source runs after `yield Checkpoint(...)` still runs only once that checkpoint
is committed, as the source contract promises.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
POLL_SECONDS = 0.1


def _put(items: queue.Queue, item: tuple, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            items.put(item, timeout=POLL_SECONDS)
            return True
        except queue.Full:
            continue
    return False


def prefetched(events: Iterator[T], is_barrier: Callable[[T], bool], depth: int = 2) -> Iterator[T]:
    """Yield `events`, read on a background thread at most `depth` items ahead."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop, proceed = threading.Event(), threading.Event()

    def read() -> None:
        try:
            for event in events:
                if not _put(items, ("event", event), stop):
                    return
                if is_barrier(event):
                    while not proceed.wait(POLL_SECONDS):
                        if stop.is_set():
                            return
                    proceed.clear()
            _put(items, ("done", None), stop)
        except BaseException as exc:  # handed to the consumer, raised there
            _put(items, ("error", exc), stop)
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()

    reader = threading.Thread(target=read, name="source-reader", daemon=True)
    reader.start()
    try:
        while True:
            kind, value = items.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
            if is_barrier(value):
                proceed.set()
    finally:
        stop.set()
        reader.join(timeout=30)


def interleaved(sources: list[Iterator[T]], depth: int = 1) -> Iterator[T]:
    """Yield the items of every source in turn, each read on its own thread at most `depth`
    items ahead (parallel range reads of one table: the drivers release the GIL)."""
    readers = [prefetched(source, lambda _: False, depth) for source in sources]
    try:
        active = list(readers)
        while active:
            for reader in list(active):
                item = next(reader, _DONE)
                if item is _DONE:
                    active.remove(reader)
                else:
                    yield item  # type: ignore[misc]
    finally:
        for reader in readers:
            reader.close()  # stops its thread before the caller closes what it reads


_DONE = object()

__all__ = ["interleaved", "prefetched"]
