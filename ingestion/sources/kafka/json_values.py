"""JSON message values as an Arrow table, a batch at a time.

The values are joined into one newline-delimited buffer that pyarrow's JSON reader parses
in C. A value that breaks the batch (not JSON, not an object, a type the declared schema
refuses) is found by halving the batch until the bad values stand alone; those go to the
DLQ with the reason, the rest parse as a block."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import orjson
import pyarrow as pa
import pyarrow.json as pajson

# small blocks parse faster than big ones (measured 2026-12-05 on 50,000 sales events of
# 220 bytes: 256 KiB 1.3 us/message, 2 MiB 3.2 us); a block must hold the batch's longest
# value. One thread: pyarrow's pool cost more than it gave on two busy cores (2.3 us vs
# 1.3 at 256 KiB), and the read already runs beside the engine's Parquet writer thread.
MIN_BLOCK_BYTES = 256 << 10


@dataclass
class Decoded:
    """The rows that decoded (with the index of the message each came from) and the
    messages that did not, with why."""

    tables: list[tuple[pa.Table, list[int]]] = field(default_factory=list)
    bad: list[tuple[int, str]] = field(default_factory=list)


def _parse(values: list[bytes], schema: pa.Schema | None, block: int) -> pa.Table:
    options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
    buffer = b"\n".join(values)
    if buffer.count(b"\n") != len(values) - 1:  # JSON may break lines between tokens
        buffer = b"\n".join(_single_line(v) for v in values)
    read = pajson.ReadOptions(block_size=block, use_threads=False)
    table = pajson.read_json(io.BytesIO(buffer), read, options)
    if table.num_rows != len(values):  # a value with a raw newline spans two lines
        raise pa.ArrowInvalid(f"{table.num_rows} rows for {len(values)} values")
    return table


def _why(value: bytes, schema: pa.Schema | None, error: Exception) -> str:
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return f"not JSON: {exc}"
    if not isinstance(parsed, dict):
        return f"not a JSON object: a {type(parsed).__name__}"
    if schema is not None:
        return f"does not fit the declared schema: {error}"
    return f"cannot be read as a record: {error}"


def _single_line(value: bytes) -> bytes:
    # JSON allows newlines between tokens; the line reader needs one value per line
    return value.replace(b"\r", b" ").replace(b"\n", b" ") if b"\n" in value else value


def decode_json(values: list[bytes], schema: pa.Schema | None = None) -> Decoded:
    """Decode every value; `schema`: the declared columns (others are inferred)."""
    decoded = Decoded()
    # blocks sized by this batch's longest value, not the longest allowed (max_message_bytes,
    # 1 MiB by default): 2 MiB blocks parsed 2.5 times slower
    block = max(MIN_BLOCK_BYTES, 2 * max(map(len, values), default=0))

    def split(indices: list[int]) -> None:
        if not indices:
            return
        try:
            decoded.tables.append((_parse([values[i] for i in indices], schema, block), indices))
            return
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            if len(indices) == 1:
                decoded.bad.append((indices[0], _why(values[indices[0]], schema, exc)))
                return
        middle = len(indices) // 2
        split(indices[:middle])
        split(indices[middle:])

    split(list(range(len(values))))
    return decoded


__all__ = ["Decoded", "decode_json"]
