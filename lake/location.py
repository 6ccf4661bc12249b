"""Turn a lake URL into a filesystem: a local folder or an S3/MinIO bucket.

`file:///abs/path`, a plain path, or `s3://bucket[/prefix]`. S3 settings come from
the environment (LAKE_S3_ENDPOINT, LAKE_S3_ACCESS_KEY_ID, LAKE_S3_SECRET_ACCESS_KEY,
LAKE_S3_REGION), never from the URL, so URLs can be logged safely. Python reaches a bucket
through pyarrow's S3 filesystem, DuckDB through its own httpfs extension (`duckdb_access`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs

from lake.errors import LakeError

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX_PART = re.compile(r"^[A-Za-z0-9._=-]+$")


@dataclass(frozen=True)
class S3Settings:
    endpoint: str | None
    access_key_id: str | None
    secret_access_key: str | None
    region: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> S3Settings:
        env = os.environ if env is None else env
        return cls(
            endpoint=env.get("LAKE_S3_ENDPOINT") or None,
            access_key_id=env.get("LAKE_S3_ACCESS_KEY_ID") or None,
            secret_access_key=env.get("LAKE_S3_SECRET_ACCESS_KEY") or None,
            region=env.get("LAKE_S3_REGION") or "us-east-1",
        )


@dataclass(frozen=True)
class Location:
    """Where a lake lives: the scheme, the root inside the filesystem, the S3 settings."""

    url: str
    scheme: str  # "file" or "s3"
    root: str  # local absolute path, or "bucket/prefix"
    s3: S3Settings | None = None

    @property
    def is_s3(self) -> bool:
        return self.scheme == "s3"

    @property
    def bucket(self) -> str:
        return self.root.split("/", 1)[0]

    def uri(self, *parts: str) -> str:
        """A URI that DuckDB and dbt understand (absolute path or s3://...)."""
        path = "/".join([self.root.rstrip("/"), *parts]) if parts else self.root
        return f"s3://{path}" if self.is_s3 else path

    def filesystem(self) -> pafs.FileSystem:
        if not self.is_s3:
            return pafs.LocalFileSystem()
        assert self.s3 is not None
        kwargs: dict[str, object] = {"region": self.s3.region}
        if self.s3.access_key_id:
            kwargs["access_key"] = self.s3.access_key_id
            kwargs["secret_key"] = self.s3.secret_access_key or ""
        if self.s3.endpoint:
            endpoint = urlparse(self.s3.endpoint)
            if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
                raise LakeError(
                    f"LAKE_S3_ENDPOINT={self.s3.endpoint!r} for lake {self.url}: "
                    "expected http(s)://host:port"
                )
            kwargs["endpoint_override"] = endpoint.netloc
            kwargs["scheme"] = endpoint.scheme
            kwargs["force_virtual_addressing"] = False
        # fail in seconds, not minutes, when the endpoint is down
        kwargs["connect_timeout"] = 5
        kwargs["request_timeout"] = 30
        kwargs["retry_strategy"] = pafs.AwsStandardS3RetryStrategy(max_attempts=3)
        # bootstrap creates the bucket when missing (MinIO, tests); AWS accounts may forbid it
        kwargs["allow_bucket_creation"] = True
        return pafs.S3FileSystem(**kwargs)

    def duckdb_access(self, con) -> None:  # con: duckdb.DuckDBPyConnection
        """Let a DuckDB connection read and write this lake's bucket itself, through its
        httpfs extension (installed by `make setup`); nothing to do for a local lake."""
        if self.is_s3:
            assert self.s3 is not None
            con.execute(duckdb_s3_secret_sql("lake_s3", self.s3, self.uri()))


def duckdb_s3_secret_sql(name: str, s3: S3Settings, uri: str) -> str:
    """A temporary httpfs secret for the bucket of `uri` (s3://bucket/...), from the lake's
    S3 settings: path-style and plain HTTP for an http:// endpoint (MinIO, moto), the
    region's virtual hosts on AWS. It holds the keys: never log the statement."""
    bucket = urlparse(uri).netloc
    options = [f"region {sql_string(s3.region)}", f"scope {sql_string(f's3://{bucket}')}"]
    if s3.access_key_id:
        options += [
            f"key_id {sql_string(s3.access_key_id)}",
            f"secret {sql_string(s3.secret_access_key or '')}",
        ]
    if s3.endpoint:
        endpoint = urlparse(s3.endpoint)
        if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
            raise LakeError(
                f"LAKE_S3_ENDPOINT={s3.endpoint!r} for lake {uri}: expected http(s)://host:port"
            )
        options += [
            f"endpoint {sql_string(endpoint.netloc)}",
            "url_style 'path'",
            f"use_ssl {str(endpoint.scheme == 'https').lower()}",
        ]
    return f"create or replace temporary secret {name} (type s3, {', '.join(options)})"


def sql_string(text: str) -> str:
    """`text` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def parse_lake_url(
    url: str, env: Mapping[str, str] | None = None, base: Path | None = None
) -> Location:
    """Validate a lake URL and resolve it; raises LakeError naming the URL and the problem."""
    if not url or not url.strip():
        raise LakeError("the lake URL is empty: set LAKE_URL to a folder or s3://bucket[/prefix]")
    url = url.strip()
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        if parsed.scheme == "file" and parsed.netloc not in ("", "localhost"):
            raise LakeError(f"lake URL {url}: file URLs take no host (use file:///abs/path)")
        raw = parsed.path if parsed.scheme == "file" else url
        path = Path(raw).expanduser()
        if not path.is_absolute():
            path = (base or Path.cwd()) / path
        return Location(url=url, scheme="file", root=str(path.resolve()))
    if parsed.scheme in ("s3", "s3a"):
        bucket = parsed.netloc
        if not _BUCKET.match(bucket or ""):
            raise LakeError(
                f"lake URL {url}: {bucket!r} is not a valid bucket name "
                "(3-63 lowercase letters, digits, dots and hyphens)"
            )
        parts = [p for p in parsed.path.split("/") if p]
        bad = [p for p in parts if not _PREFIX_PART.match(p) or p in (".", "..")]
        if bad:
            raise LakeError(
                f"lake URL {url}: prefix part {bad[0]!r} has characters outside [A-Za-z0-9._=-]"
            )
        if parsed.query or parsed.params or parsed.fragment:
            raise LakeError(
                f"lake URL {url}: no query or fragment expected (settings go in LAKE_S3_*)"
            )
        return Location(
            url=url, scheme="s3", root="/".join([bucket, *parts]), s3=S3Settings.from_env(env)
        )
    raise LakeError(
        f"lake URL {url}: unsupported scheme {parsed.scheme!r} (expected a path, file:// or s3://)"
    )
