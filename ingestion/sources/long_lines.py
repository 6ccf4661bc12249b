"""JSON lines longer than Arrow's read block, and lines longer than a stream allows.

Arrow's JSON reader parses a file in blocks (1 MiB by default) and fails on the whole file
when one line is longer than a block ("straddling object straddles two block
boundaries"). Only then does the files source come here: lines over the stream's
`max_record_bytes` are blanked out of the data and go to the DLQ with their size, line and
byte offset; the reader is then given blocks large enough for the longest line left, so
long records that are allowed load as usual. Blanking (not removing) keeps every other
line's number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow.json as pajson

from ingestion.protocol import Rejects

DEFAULT_BLOCK_BYTES = pajson.ReadOptions().block_size
DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024
RAW_PREFIX_CHARS = 1024  # what the DLQ keeps of an oversize line: the file has the rest


@dataclass(frozen=True)
class FittedLines:
    data: bytes  # the lines over the limit replaced by empty lines
    rejects: Rejects | None  # the lines over the limit
    read_options: pajson.ReadOptions  # blocks that hold the longest line kept


def _line_spans(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start offsets and lengths (without the newline) of every line, vectorised."""
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(data)]))
    return starts, ends - starts


def fit_long_lines(data: bytes, location: str, max_record_bytes: int) -> FittedLines:
    starts, lengths = _line_spans(data)
    over = np.flatnonzero(lengths > max_record_bytes)
    rejects = None
    if len(over):
        raw, reasons, numbers, pieces, kept_from = [], [], [], [], 0
        for index in over.tolist():
            start, length = int(starts[index]), int(lengths[index])
            head = data[start : start + RAW_PREFIX_CHARS].decode("utf-8", errors="replace")
            raw.append(head)
            reasons.append(
                f"record of {length:,} bytes is over max_record_bytes ({max_record_bytes:,}); "
                f"it starts at byte {start:,} of the file (the DLQ keeps its first "
                f"{RAW_PREFIX_CHARS} characters)"
            )
            numbers.append(index + 1)
            pieces.append(data[kept_from:start])
            kept_from = start + length  # its newline stays: the line becomes empty
        pieces.append(data[kept_from:])
        data = b"".join(pieces)
        rejects = Rejects(raw, reasons, location, numbers)
        lengths = np.delete(lengths, over)
    longest = int(lengths.max()) if len(lengths) else 0
    # a block must hold a whole line and its newline; whole MiB, so sizes repeat
    block = max(DEFAULT_BLOCK_BYTES, -(-(longest + 2) // (1 << 20)) * (1 << 20))
    return FittedLines(data, rejects, pajson.ReadOptions(block_size=block))


__all__ = ["DEFAULT_BLOCK_BYTES", "DEFAULT_MAX_RECORD_BYTES", "FittedLines", "fit_long_lines"]
