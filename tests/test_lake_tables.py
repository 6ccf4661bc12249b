"""The lake's DuckLake (lake/tables/catalog.py): attach, snapshots, and a catalog that cannot
be opened failing with one line that names it, changing nothing."""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
import subprocess
import sys
import uuid

import pytest

from lake import Lake, parse_lake_url
from lake.tables.catalog import CatalogError, TableCatalog, connect, current_snapshot


@pytest.fixture
def tables(tmp_path) -> TableCatalog:
    (tmp_path / "lake").mkdir()
    return TableCatalog.beside(parse_lake_url(str(tmp_path / "lake")))


def test_the_catalog_sits_beside_a_local_lake(tmp_path, tables):
    assert tables.sqlite_path == tmp_path / "lake.sqlite"
    assert tables.data_path == f"{tmp_path / 'lake'}/"
    with pytest.raises(CatalogError, match="in a bucket"):
        TableCatalog.beside(parse_lake_url("s3://some-bucket/lake"))
    with pytest.raises(CatalogError, match="absolute"):
        TableCatalog.of("sqlite:relative.sqlite", str(tmp_path))


def test_a_reader_pinned_to_a_snapshot_sees_that_version(tables, tmp_path):
    with connect(tables) as writer:
        writer.execute("create table lake.main.t as select range as id from range(100)")
        pinned = current_snapshot(writer)
        writer.execute("insert into lake.main.t select range from range(50)")
        writer.execute("delete from lake.main.t where id < 3")
    with connect(tables, read_only=True, snapshot=pinned) as reader:
        assert reader.execute("select count(*) from lake.main.t").fetchone() == (100,)
        assert current_snapshot(reader) == pinned
    with connect(tables, read_only=True) as latest:
        assert latest.execute("select count(*) from lake.main.t").fetchone() == (
            144,
        )  # less ids 0-2 twice
    # the data files are in the lake folder, under the table's own folder
    assert list((tmp_path / "lake" / "main" / "t").glob("ducklake-*.parquet"))


def test_a_missing_catalog_is_not_created_by_a_reader(tables):
    with pytest.raises(CatalogError, match=f"{tables.sqlite_path}.*does not exist yet"):
        connect(tables, read_only=True)
    assert not tables.sqlite_path.exists()


def test_a_catalog_that_is_not_one_fails_naming_it_and_stays_as_it_was(tables):
    tables.sqlite_path.write_bytes(b"this is not a SQLite database, " * 100)
    before = tables.sqlite_path.read_bytes()
    for read_only in (False, True):
        with pytest.raises(CatalogError) as failure:
            connect(tables, read_only=read_only)
        message = str(failure.value)
        assert str(tables.sqlite_path) in message and "nothing was changed" in message
        assert "\n" not in message
    assert tables.sqlite_path.read_bytes() == before


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line_naming(failure, tables: TableCatalog, *words: str) -> str:
    message = str(failure.value)
    assert str(tables.sqlite_path) in message, message
    assert "\n" not in message, message
    for word in words:
        assert word in message, message
    return message


def test_a_sqlite_database_of_something_else_is_refused_and_left_as_it_was(tables):
    other = sqlite3.connect(tables.sqlite_path)
    other.execute("create table people (name text)")
    other.commit()
    other.close()
    before = _sha(tables.sqlite_path)
    for read_only in (False, True):
        with pytest.raises(CatalogError) as failure:
            connect(tables, read_only=read_only)
        _one_line_naming(failure, tables, "not a DuckLake catalog", "nothing was changed")
    assert _sha(tables.sqlite_path) == before  # no DuckLake tables were added to it


@pytest.mark.parametrize(
    ("version", "hint"),
    [("9.9", "newer DuckLake: upgrade duckdb"), ("0.1", "older DuckLake: back it up")],
)
def test_a_catalog_of_another_ducklake_version_says_which_and_is_not_migrated(
    tables, version, hint
):
    with connect(tables) as writer:
        writer.execute("create table lake.main.t as select 1 as id")
    catalog = sqlite3.connect(tables.sqlite_path)
    catalog.execute("update ducklake_metadata set value = ? where key = 'version'", [version])
    catalog.commit()
    catalog.close()
    before = _sha(tables.sqlite_path)
    for read_only in (False, True):
        with pytest.raises(CatalogError) as failure:
            connect(tables, read_only=read_only)
        _one_line_naming(failure, tables, f"catalog version is {version}", hint)
    assert _sha(tables.sqlite_path) == before


HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("pragma locking_mode = exclusive")  # no reader either, until it ends
conn.execute("begin exclusive")
conn.execute("select count(*) from sqlite_master").fetchall()
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_catalog_locked_by_another_process_fails_after_its_busy_timeout(tables):
    """Another process (the lock is per process) holds the catalog's SQLite file locked:
    the attach waits the busy timeout, then says who to wait for."""
    with connect(tables) as writer:
        writer.execute("create table lake.main.t as select 1 as id")
    impatient = dataclasses.replace(tables, busy_timeout_ms=500)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tables.sqlite_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        for read_only in (True, False):
            with pytest.raises(CatalogError) as failure:
                connect(impatient, read_only=read_only)
            _one_line_naming(failure, tables, "locked", "retry when it has finished")
    finally:
        holder.communicate("", timeout=10)
    with connect(tables, read_only=True) as reader:  # the lock gone, the catalog is whole
        assert reader.execute("select count(*) from lake.main.t").fetchone() == (1,)


def test_a_lake_in_a_bucket_is_read_and_written_through_httpfs(tmp_path, s3_endpoint):
    """DuckDB reaches the bucket itself (httpfs, the secret from LAKE_S3_*): no fsspec
    filesystem registered, the table's files are objects in the bucket."""
    location = parse_lake_url(f"s3://tables-{uuid.uuid4().hex[:8]}/lake", s3_endpoint.env)
    lake = Lake(location=location, fs=location.filesystem())
    lake.bootstrap()
    tables = TableCatalog.of(f"sqlite:{tmp_path / 'lake.sqlite'}", lake.uri(), s3_endpoint.env)
    secret = s3_endpoint.env["LAKE_S3_SECRET_ACCESS_KEY"]
    assert secret not in tables.attach_sql() and secret not in repr(tables)
    with connect(tables) as writer:
        (httpfs,) = writer.execute(
            "select loaded from duckdb_extensions() where extension_name = 'httpfs'"
        ).fetchone()
        assert httpfs
        writer.execute("create table lake.main.t as select range as id from range(1000)")
    objects = lake.list_files(lake.path("main", "t"), suffix=".parquet")
    assert len(objects) == 1 and objects[0].path.split("/")[-1].startswith("ducklake-")
    with connect(tables, read_only=True) as reader:
        assert reader.execute("select count(*), sum(id) from lake.main.t").fetchone() == (
            1000,
            499_500,
        )
