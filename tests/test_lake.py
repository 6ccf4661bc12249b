"""The storage layer, on a local folder and on a real S3 endpoint, by the same tests."""

from __future__ import annotations

import os
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lake import LAYERS, Lake, LakeError, open_lake, parse_lake_url


@pytest.fixture(params=["local", "s3"])
def lake(request, tmp_path) -> Lake:
    if request.param == "local":
        return open_lake(str(tmp_path / "lake"))
    endpoint = request.getfixturevalue("s3_endpoint")
    os.environ.update(endpoint.env)
    return open_lake(f"s3://lake-{uuid.uuid4().hex[:8]}/team/lake")


def test_bootstrap_creates_the_layout(lake):
    if lake.location.is_s3:
        assert lake.exists(lake.location.bucket)
    else:
        assert all(lake.exists(lake.path(layer)) for layer in LAYERS)
    assert lake.list_files(lake.path("_ops")) == []  # the write probe cleaned up after itself


def test_parquet_round_trip_and_listing(lake):
    table = pa.table({"id": [1, 2, 3], "name": ["a", "b", "c"]})
    path = lake.path("bronze", "shop", "orders", "extracted_date=2026-01-01", "part-1.parquet")
    assert lake.write_parquet(path, table.to_batches(), table.schema) == 3
    files = lake.list_files(lake.path("bronze"), suffix=".parquet")
    assert [f.path for f in files] == [path]
    assert pq.read_table(lake.fs.open_input_file(path)).equals(table)
    assert lake.uri("bronze").endswith("/bronze")
    assert lake.uri().startswith("s3://" if lake.location.is_s3 else "/")


def test_a_failed_write_leaves_no_file(lake):
    schema = pa.schema([("id", pa.int64())])
    path = lake.path("silver", "broken", "part-0.parquet")

    def batches():
        yield pa.record_batch([pa.array([1, 2])], schema=schema)
        raise RuntimeError("source died mid-stream")

    with pytest.raises(RuntimeError, match="mid-stream"):
        lake.write_parquet(path, batches(), schema)
    assert not lake.exists(path)
    assert lake.list_files(lake.path("silver")) == []


def test_json_documents_round_trip(lake):
    path = lake.path("_ops", "state", "shop.json")
    lake.write_json(path, {"last_sync_id": "x", "n": 1})
    assert lake.read_json(path) == {"last_sync_id": "x", "n": 1}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "the lake URL is empty"),
        ("s3://Bad_Bucket", "not a valid bucket name"),
        ("s3://bucket/../etc", "prefix part '..'"),
        ("ftp://host/lake", "unsupported scheme 'ftp'"),
        ("file://remote-host/lake", "file URLs take no host"),
    ],
)
def test_bad_lake_urls_are_refused_with_the_reason(url, message):
    with pytest.raises(LakeError, match=message):
        parse_lake_url(url)


def test_unreachable_endpoint_names_the_url_and_reason(monkeypatch):
    monkeypatch.setenv("LAKE_S3_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on discard
    with pytest.raises(LakeError) as error:
        open_lake("s3://lakehouse/demo")
    assert "s3://lakehouse/demo" in str(error.value)
    assert "connect" in str(error.value).lower()
    assert "\n" not in str(error.value)


def test_bad_endpoint_setting_is_named(monkeypatch):
    monkeypatch.setenv("LAKE_S3_ENDPOINT", "minio:9000")
    with pytest.raises(LakeError, match=r"LAKE_S3_ENDPOINT='minio:9000'.*expected http"):
        open_lake("s3://lakehouse")
