"""Avro message values: plain Avro with a schema from a .avsc file, or the Confluent wire
format (a zero byte, the schema id as 4 bytes big-endian, then the Avro body) with the
writer's schema fetched from a schema registry by id and kept for the process.

fastavro decodes each value (in C); the records become an Arrow table in one call."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path
from typing import Any

import fastavro
import httpx
import pyarrow as pa

from ingestion.protocol import SourceError
from ingestion.sources.kafka.json_values import Decoded

MAGIC = 0


class SchemaRegistry:
    """Writer schemas by id from a Confluent-compatible registry (`GET /schemas/ids/<id>`);
    an id the registry does not know is remembered as unknown."""

    def __init__(self, url: str, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.schemas: dict[int, Any | None] = {}

    def get(self, schema_id: int) -> Any | None:
        if schema_id not in self.schemas:
            try:
                response = httpx.get(f"{self.url}/schemas/ids/{schema_id}", timeout=self.timeout)
            except httpx.HTTPError as exc:
                raise SourceError(f"schema registry {self.url} does not answer: {exc}") from exc
            if response.status_code == 404:
                self.schemas[schema_id] = None
            elif response.status_code != 200:
                raise SourceError(
                    f"schema registry {self.url}: schema {schema_id}: HTTP "
                    f"{response.status_code} {response.text[:200]}"
                )
            else:
                document = json.loads(response.json()["schema"])
                self.schemas[schema_id] = fastavro.parse_schema(document)
        return self.schemas[schema_id]


def schema_from_file(path: str, stream: str) -> Any:
    try:
        return fastavro.parse_schema(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, fastavro.schema.SchemaParseException) as exc:
        raise SourceError(f"stream {stream}: cannot read the Avro schema {path}: {exc}") from exc


def decode_avro(
    values: list[bytes], file_schema: Any | None, registry: SchemaRegistry | None
) -> Decoded:
    decoded = Decoded()
    records: list[dict[str, Any]] = []
    indices: list[int] = []
    for i, value in enumerate(values):
        body, schema = value, file_schema
        if file_schema is None:
            if len(value) < 5 or value[0] != MAGIC:
                decoded.bad.append((i, "not in the Confluent Avro wire format (magic byte 0)"))
                continue
            (schema_id,) = struct.unpack(">I", value[1:5])
            schema = registry.get(schema_id) if registry is not None else None
            if schema is None:
                decoded.bad.append((i, f"unknown schema id {schema_id}"))
                continue
            body = value[5:]
        try:
            records.append(fastavro.schemaless_reader(io.BytesIO(body), schema, None))
            indices.append(i)
        except Exception as exc:  # fastavro raises many kinds on a corrupt body
            decoded.bad.append((i, f"not Avro of the schema: {type(exc).__name__}: {exc}"))
    if records:
        decoded.tables.append((pa.Table.from_pylist(records), indices))
    return decoded


__all__ = ["SchemaRegistry", "decode_avro", "schema_from_file"]
