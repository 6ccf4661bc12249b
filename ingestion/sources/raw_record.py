"""The `record.data` of an Airbyte RECORD message exactly as the connector wrote it.

A dead letter keeps the record as emitted: every field (declared in the schema or not), with
its numbers and strings spelled as they came, not as a re-serialization would spell them.
Only rejected records are looked at, so a position-tracking walk over the line (standard
`json` scanner) is cheap enough.
"""

from __future__ import annotations

import json
from json.decoder import scanstring

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"


def _skip(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index


def _member(text: str, start: int, wanted: str) -> tuple[int, int] | None:
    """The span of member `wanted` of the JSON object starting at `start` (None: absent)."""
    index = _skip(text, start)
    if text[index : index + 1] != "{":
        return None
    index = _skip(text, index + 1)
    while text[index : index + 1] == '"':
        key, index = scanstring(text, index + 1)
        index = _skip(text, index)
        if text[index : index + 1] != ":":
            return None
        begin = _skip(text, index + 1)
        _, end = _DECODER.raw_decode(text, begin)
        if key == wanted:
            return begin, end
        index = _skip(text, end)
        if text[index : index + 1] != ",":
            return None
        index = _skip(text, index + 1)
    return None


def record_data_text(line: bytes | str) -> str | None:
    """The text of the message's `record.data` (None when the line is not such a message)."""
    text = line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line
    try:
        record = _member(text, 0, "record")
        if record is None:
            return None
        data = _member(text, record[0], "data")
    except (ValueError, IndexError):
        return None
    return None if data is None else text[data[0] : data[1]]


__all__ = ["record_data_text"]
