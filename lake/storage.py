"""The lake: its layout (bronze/silver/gold/_ops), atomic writes and bootstrap.

Every key is relative to the lake root, the same on a local folder and in a
bucket. Writes go to a temporary name and are moved into place, so a reader never
sees half a file, on a local disk or in a bucket.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from common.redaction import error_line
from lake.errors import LakeError
from lake.location import Location, parse_lake_url

LAYERS = ("bronze", "silver", "gold", "_ops")
TMP_PREFIX = "_tmp-"


@dataclass
class Lake:
    location: Location
    fs: pafs.FileSystem

    @classmethod
    def from_url(cls, url: str) -> Lake:
        location = parse_lake_url(url)
        return cls(location=location, fs=location.filesystem())

    @property
    def url(self) -> str:
        return self.location.url

    # -- layout ---------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        """The filesystem path of a key (what pyarrow.fs takes)."""
        return "/".join([self.location.root.rstrip("/"), *parts])

    def key_of(self, path: str) -> str:
        """The key of a filesystem path under the lake root (inverse of `path`)."""
        root = self.location.root.rstrip("/") + "/"
        if not path.startswith(root):
            raise LakeError(f"{path} is outside the lake {self.url}")
        return path[len(root) :]

    def move(self, source: str, target: str) -> None:
        """Move a file within the lake (a rename locally, a server-side copy on S3)."""
        if not self.location.is_s3:
            self.fs.create_dir(target.rpartition("/")[0], recursive=True)
        self.fs.move(source, target)

    def uri(self, *parts: str) -> str:
        """The URI of a key for DuckDB and dbt."""
        return self.location.uri(*parts)

    def bronze(self, source: str, stream: str) -> str:
        return self.path("bronze", source, stream)

    def dlq(self, source: str, stream: str) -> str:
        return self.path("bronze", "_dlq", source, stream)

    # -- bootstrap ------------------------------------------------------------------------
    def bootstrap(self) -> None:
        """Create the bucket (S3) or the layer folders (local); check we can write."""
        self._call("create the lake", self._create_root)
        probe = self.path("_ops", f".probe-{uuid.uuid4().hex}")
        self._call("write to the lake", self.write_bytes, probe, b"ok")
        self._call("delete from the lake", self.fs.delete_file, probe)

    def _create_root(self) -> None:
        if self.location.is_s3:
            info = self.fs.get_file_info(self.location.bucket)
            if info.type == pafs.FileType.NotFound:
                self.fs.create_dir(self.location.bucket)
        else:
            for layer in LAYERS:
                self.fs.create_dir(self.path(layer), recursive=True)

    def _call(self, what: str, fn, *args: Any) -> Any:
        try:
            return fn(*args)
        except LakeError:
            raise
        except (OSError, pa.ArrowException) as exc:
            raise LakeError(f"cannot {what} at {self.url}: {error_line(exc)}") from exc

    # -- reads and writes -----------------------------------------------------------------
    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a whole object atomically."""
        with self._atomic(path) as target, self.fs.open_output_stream(target) as out:
            out.write(data)

    def write_json(self, path: str, document: Any) -> None:
        self.write_bytes(path, json.dumps(document, indent=2, default=str).encode())

    def read_json(self, path: str) -> Any:
        with self.fs.open_input_stream(path) as stream:
            return json.loads(stream.read())

    @contextmanager
    def parquet_writer(
        self, path: str, schema: pa.Schema, compression: str = "snappy", **options: Any
    ) -> Iterator[pq.ParquetWriter]:
        """A Parquet writer whose file appears (atomically) only if the block succeeds;
        `options` go to pyarrow's ParquetWriter (e.g. use_dictionary)."""
        with (
            self._atomic(path) as target,
            self.fs.open_output_stream(target) as out,
            pq.ParquetWriter(out, schema, compression=compression, **options) as writer,
        ):
            yield writer

    def write_parquet(
        self,
        path: str,
        batches: Iterable[pa.RecordBatch],
        schema: pa.Schema,
        compression: str = "snappy",
        row_group_size: int = 500_000,
    ) -> int:
        """Stream batches into one Parquet file, atomically; returns the rows written."""
        rows = 0
        with self.parquet_writer(path, schema, compression) as writer:
            for batch in batches:
                writer.write_batch(batch, row_group_size=row_group_size)
                rows += batch.num_rows
        return rows

    def exists(self, path: str) -> bool:
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    def list_files(self, prefix: str, suffix: str = "") -> list[pafs.FileInfo]:
        """Files under a prefix (recursively), excluding in-flight temporaries."""
        if not self.exists(prefix):
            return []
        infos = self.fs.get_file_info(pafs.FileSelector(prefix, recursive=True))
        return sorted(
            (
                i
                for i in infos
                if i.type == pafs.FileType.File
                and i.path.endswith(suffix)
                and not i.base_name.startswith(TMP_PREFIX)
            ),
            key=lambda i: i.path,
        )

    def delete_files(self, paths: Iterable[str]) -> None:
        for path in paths:
            self.fs.delete_file(path)

    def _atomic(self, path: str):
        return _AtomicTarget(self, path)


class _AtomicTarget:
    """Write `_tmp-<uuid>-<name>.partial` beside the target, then move it over the target:
    a rename on a local disk, a server-side copy on S3 (the object appears whole or not at
    all; a plain S3 upload would be completed on close even when the writer failed). The
    `.partial` suffix keeps in-flight files out of `*.parquet` globs."""

    def __init__(self, lake: Lake, path: str) -> None:
        self.lake, self.path = lake, path
        parent, _, name = path.rpartition("/")
        self.parent = parent
        self.tmp = f"{parent}/{TMP_PREFIX}{uuid.uuid4().hex}-{name}.partial"

    def __enter__(self) -> str:
        if not self.lake.location.is_s3:
            self.lake.fs.create_dir(self.parent, recursive=True)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.lake.fs.move(self.tmp, self.path)
        elif self.lake.exists(self.tmp):
            self.lake.fs.delete_file(self.tmp)


def open_lake(url: str, create: bool = True) -> Lake:
    """Open a lake by URL and make sure it is usable; LakeError says why not."""
    lake = Lake.from_url(url)
    if create:
        lake.bootstrap()
    return lake
