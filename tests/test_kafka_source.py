"""The kafka source against a real broker (Tansu): JSON, Avro (file and registry),
Debezium envelopes, message columns, bad messages to the DLQ, and resuming from the
offsets committed in the lake."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import fastavro
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from ingestion.connections import Connection
from ingestion.sync import sync_connection
from lake import open_lake


def new_topic(broker, partitions: int = 3) -> str:
    name = f"t{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    for future in admin.create_topics([NewTopic(name, partitions)]).values():
        future.result()
    return name


def produce(broker, topic: str, values: list, keys: list | None = None, headers=None) -> None:
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 5})
    for i, value in enumerate(values):
        if isinstance(value, dict):
            value = json.dumps(value).encode()
        key = keys[i] if keys else None
        producer.produce(topic, value=value, key=key, headers=headers)
    producer.flush()


def connection(broker, streams: list[dict], **config) -> Connection:
    return Connection.model_validate(
        {
            "source": "kafka",
            "config": {"bootstrap_servers": broker.bootstrap_servers, **config},
            "streams": [{"sync_mode": "incremental", **s} for s in streams],
        }
    )


def bronze(lake_dir: Path, stream: str, dlq: bool = False) -> list[dict]:
    folder = lake_dir / "bronze" / ("_dlq/events" if dlq else "events") / stream
    if not folder.exists():
        return []
    con = duckdb.connect()
    relation = con.sql(f"select * from read_parquet('{folder}/*/*.parquet', union_by_name=true)")
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


def test_json_messages_land_once_with_their_kafka_columns_and_bad_ones_go_to_the_dlq(
    kafka_broker, tmp_path
):
    topic = new_topic(kafka_broker)
    good = [{"sale_id": i, "amount_cents": 100 + i, "region": "EU"} for i in range(500)]
    produce(
        kafka_broker,
        topic,
        good,
        keys=[f"c{i % 7}".encode() for i in range(500)],
        headers=[("source", b"test")],
    )
    produce(kafka_broker, topic, [b"not json", b"[1, 2]", b'{"sale_id": ' + b"9" * 200 + b"}"])
    conn = connection(kafka_broker, [{"name": "sales", "topic": topic, "max_message_bytes": 150}])
    lake = open_lake(str(tmp_path))

    result = sync_connection(lake, "events", conn)

    assert result.status == "succeeded"
    rows = bronze(tmp_path, "sales")
    assert sorted(r["sale_id"] for r in rows) == list(range(500))
    assert sum(r["amount_cents"] for r in rows) == sum(100 + i for i in range(500))
    assert {r["_kafka_partition"] for r in rows} <= {0, 1, 2}
    assert len({(r["_kafka_partition"], r["_kafka_offset"]) for r in rows}) == 500
    assert {r["_kafka_key"] for r in rows} == {f"c{i}" for i in range(7)}
    assert json.loads(rows[0]["_kafka_headers"]) == {"source": "test"}
    assert rows[0]["_kafka_timestamp"] is not None
    dead = bronze(tmp_path, "sales", dlq=True)
    reasons = sorted(r["reason"].split(":")[0] for r in dead)
    assert reasons == ["not JSON", "not a JSON object", "oversize"]
    assert all(r["location"].startswith(f"{topic}[") for r in dead)
    assert all(r["line_number"] is not None for r in dead)  # the offset

    # nothing new: nothing read; new messages: only they are read
    assert sync_connection(lake, "events", conn).streams[0].rows_read == 0
    produce(kafka_broker, topic, [{"sale_id": 1000 + i, "amount_cents": 1} for i in range(20)])
    again = sync_connection(lake, "events", conn)
    assert again.streams[0].rows_read == 20
    assert len(bronze(tmp_path, "sales")) == 520


def test_a_value_longer_than_a_json_block_lands_with_the_short_ones(kafka_broker, tmp_path):
    # the JSON reader's blocks are sized by the batch's longest value (256 KiB at least):
    # a 600 KB value among short ones must not be refused as straddling a block
    topic = new_topic(kafka_broker, partitions=1)
    values = [{"note_id": i, "text": "short"} for i in range(300)]
    values.insert(150, {"note_id": 1000, "text": "x" * 600_000})
    produce(kafka_broker, topic, values)
    lake = open_lake(str(tmp_path))

    result = sync_connection(
        lake, "events", connection(kafka_broker, [{"name": "notes", "topic": topic}])
    )

    assert result.status == "succeeded"
    rows = bronze(tmp_path, "notes")
    assert sorted(r["note_id"] for r in rows) == [*range(300), 1000]
    assert max(len(r["text"]) for r in rows) == 600_000
    assert bronze(tmp_path, "notes", dlq=True) == []


def test_a_declared_schema_sends_values_that_do_not_fit_to_the_dlq(kafka_broker, tmp_path):
    topic = new_topic(kafka_broker, 1)
    produce(
        kafka_broker,
        topic,
        [{"id": 1, "amount": 5}, {"id": "two", "amount": 6}, {"id": 3, "amount": 7}],
    )
    conn = connection(kafka_broker, [{"name": "sales", "topic": topic, "schema": {"id": "int64"}}])
    sync_connection(open_lake(str(tmp_path)), "events", conn)
    assert sorted(r["id"] for r in bronze(tmp_path, "sales")) == [1, 3]
    [dead] = bronze(tmp_path, "sales", dlq=True)
    assert "declared schema" in dead["reason"] and '"two"' in dead["raw"]


AVRO_SCHEMA = {
    "type": "record",
    "name": "Sale",
    "fields": [{"name": "sale_id", "type": "long"}, {"name": "region", "type": "string"}],
}


def avro_bytes(record: dict) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(AVRO_SCHEMA), record)
    return out.getvalue()


def test_avro_values_with_a_schema_file(kafka_broker, tmp_path):
    topic = new_topic(kafka_broker, 2)
    schema_file = tmp_path / "sale.avsc"
    schema_file.write_text(json.dumps(AVRO_SCHEMA))
    produce(kafka_broker, topic, [avro_bytes({"sale_id": i, "region": "US"}) for i in range(50)])
    conn = connection(
        kafka_broker,
        [{"name": "sales", "topic": topic, "format": "avro", "avro_schema": str(schema_file)}],
    )
    sync_connection(open_lake(str(tmp_path / "lake")), "events", conn)
    rows = bronze(tmp_path / "lake", "sales")
    assert sorted(r["sale_id"] for r in rows) == list(range(50))
    assert {r["region"] for r in rows} == {"US"}


def test_confluent_wire_format_with_a_schema_registry(kafka_broker, tmp_path):
    """A registry that knows schema id 7 only; id 8 is unknown, so that message goes to the
    DLQ and the stream goes on."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Registry(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/schemas/ids/7":
                body = json.dumps({"schema": json.dumps(AVRO_SCHEMA)}).encode()
                self.send_response(200)
            else:
                body = b'{"error_code": 40403}'
                self.send_response(404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        topic = new_topic(kafka_broker, 1)
        wire = [
            b"\x00" + struct.pack(">I", 7) + avro_bytes({"sale_id": i, "region": "EU"})
            for i in range(10)
        ]
        wire.append(b"\x00" + struct.pack(">I", 8) + avro_bytes({"sale_id": 99, "region": "x"}))
        produce(kafka_broker, topic, wire)
        conn = connection(
            kafka_broker,
            [{"name": "sales", "topic": topic, "format": "avro"}],
            schema_registry_url=f"http://127.0.0.1:{server.server_address[1]}",
        )
        sync_connection(open_lake(str(tmp_path)), "events", conn)
    finally:
        server.shutdown()
    assert sorted(r["sale_id"] for r in bronze(tmp_path, "sales")) == list(range(10))
    [dead] = bronze(tmp_path, "sales", dlq=True)
    assert dead["reason"] == "unknown schema id 8"


def debezium(op: str, before, after, lsn: int) -> dict:
    return {
        "schema": {"type": "struct"},
        "payload": {
            "before": before,
            "after": after,
            "op": op,
            "ts_ms": 1,
            "source": {"connector": "postgresql", "table": "orders", "lsn": lsn},
        },
    }


def test_debezium_envelopes_land_as_cdc_rows_and_dedup_like_our_cdc(kafka_broker, tmp_path):
    topic = new_topic(kafka_broker, 2)
    events = [
        debezium("r", None, {"order_id": 1, "status": "new"}, 100),
        debezium("r", None, {"order_id": 2, "status": "new"}, 100),
        debezium("c", None, {"order_id": 3, "status": "new"}, 110),
        debezium("u", {"order_id": 1, "status": "new"}, {"order_id": 1, "status": "paid"}, 120),
        debezium("d", {"order_id": 2, "status": None}, None, 130),
    ]
    keys = [
        json.dumps(
            {
                "order_id": e["payload"]["after"]["order_id"]
                if e["payload"]["after"]
                else e["payload"]["before"]["order_id"]
            }
        ).encode()
        for e in events
    ]
    produce(
        kafka_broker,
        topic,
        [*events, None, debezium("t", None, None, 140)],
        keys=[*keys, keys[-1], b"x"],
    )
    conn = connection(
        kafka_broker,
        [{"name": "orders", "topic": topic, "envelope": "debezium", "primary_key": ["order_id"]}],
    )
    sync_connection(open_lake(str(tmp_path)), "events", conn)
    rows = bronze(tmp_path, "orders")
    assert sorted((r["order_id"], r["_op"], r["_position"], r["status"]) for r in rows) == [
        (1, "r", 100, "new"),
        (1, "u", 120, "paid"),
        (2, "d", 130, None),
        (2, "r", 100, "new"),
        (3, "c", 110, "new"),
    ]
    [dead] = bronze(tmp_path, "orders", dlq=True)  # the truncate; the tombstone is skipped
    assert "Debezium" in dead["reason"]
    # the staging dedup (latest per key by _position, deletes dropped) keeps 1 paid and 3
    con = duckdb.connect()
    folder = tmp_path / "bronze" / "events" / "orders"
    latest = con.sql(
        f"select order_id, status from (select *, row_number() over (partition by order_id "
        f"order by _position desc) as n from read_parquet('{folder}/*/*.parquet')) "
        "where n = 1 and _op <> 'd' order by order_id"
    ).fetchall()
    assert latest == [(1, "paid"), (3, "new")]


def test_command_line_connector_speaks_the_airbyte_protocol(kafka_broker, tmp_path):
    topic = new_topic(kafka_broker, 1)
    produce(kafka_broker, topic, [{"id": i} for i in range(5)])
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "bootstrap_servers": kafka_broker.bootstrap_servers,
                "streams": [{"name": "ids", "topic": topic}],
            }
        )
    )
    run = [sys.executable, "-m", "ingestion.sources.kafka"]
    spec = subprocess.run([*run, "spec"], capture_output=True, text=True, check=True)
    assert "bootstrap_servers" in spec.stdout
    discovered = subprocess.run(
        [*run, "discover", "--config", str(config)], capture_output=True, text=True, check=True
    )
    catalog = json.loads(discovered.stdout.strip().splitlines()[-1])["catalog"]
    assert "id" in catalog["streams"][0]["json_schema"]["properties"]
    configured = {
        "streams": [
            {
                "stream": catalog["streams"][0],
                "sync_mode": "incremental",
                "destination_sync_mode": "append",
            }
        ]
    }
    (tmp_path / "catalog.json").write_text(json.dumps(configured))
    read = subprocess.run(
        [*run, "read", "--config", str(config), "--catalog", str(tmp_path / "catalog.json")],
        capture_output=True,
        text=True,
        check=True,
    )
    messages = [json.loads(line) for line in read.stdout.splitlines()]
    records = [m["record"]["data"] for m in messages if m["type"] == "RECORD"]
    assert sorted(r["id"] for r in records) == list(range(5))
    states = [m for m in messages if m["type"] == "STATE"]
    assert states[-1]["state"]["stream"]["stream_state"]["offsets"] == {"0": 5}


@pytest.mark.parametrize("reset", ["fail", "earliest"])
def test_a_committed_offset_out_of_range_fails_clearly_or_resets_and_is_recorded(
    kafka_broker, tmp_path, reset
):
    """The lake says partition 0 was read to offset 8; the topic now holds 3 messages
    (the topic was recreated, or a cluster rebuilt)."""
    from ingestion.commit import CommitLog, StreamState
    from ingestion.protocol import SourceError

    topic = new_topic(kafka_broker, 1)
    produce(kafka_broker, topic, [{"id": i} for i in range(3)])
    lake = open_lake(str(tmp_path))
    log = CommitLog(lake, "events").load()
    log.commit("s0", {"ids": StreamState(state={"offsets": {"0": 8}})}, [], [])
    conn = connection(kafka_broker, [{"name": "ids", "topic": topic}], offset_reset=reset)
    if reset == "fail":
        with pytest.raises(SourceError, match=r"offset 8 of .*\[0\] is out of range .*0\.\.3"):
            sync_connection(lake, "events", conn)
        return
    result = sync_connection(lake, "events", conn)
    assert sorted(r["id"] for r in bronze(tmp_path, "ids")) == [0, 1, 2]
    [reset_record] = result.streams[0].state["resets"]
    assert reset_record["committed"] == 8 and reset_record["resumed_at"] == 0
    run = json.loads((tmp_path / "_ops" / "runs" / "events" / f"{result.sync_id}.json").read_text())
    assert "resets" in json.dumps(run)


def test_partitions_without_committed_offsets_start_at_the_beginning(kafka_broker, tmp_path):
    """Partitions added to a topic have no offset in the lake's state: they are read from
    their start (Tansu cannot add partitions: the state knows partition 0 only)."""
    from ingestion.commit import CommitLog, StreamState

    topic = new_topic(kafka_broker, 3)
    produce(
        kafka_broker, topic, [{"id": i} for i in range(30)], keys=[b"%d" % i for i in range(30)]
    )
    lake = open_lake(str(tmp_path))
    first = sync_connection(
        lake, "events", connection(kafka_broker, [{"name": "ids", "topic": topic}])
    )
    offsets = first.streams[0].state["offsets"]
    assert sum(offsets.values()) == 30
    shutil_rmtree(tmp_path)
    lake = open_lake(str(tmp_path))
    CommitLog(lake, "events").load().commit(
        "s0", {"ids": StreamState(state={"offsets": {"0": offsets["0"]}})}, [], []
    )
    second = sync_connection(
        lake, "events", connection(kafka_broker, [{"name": "ids", "topic": topic}])
    )
    assert second.streams[0].rows_read == 30 - offsets["0"]
    assert second.streams[0].state["offsets"] == offsets


def shutil_rmtree(path: Path) -> None:
    import shutil

    for child in path.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()


def test_a_missing_topic_is_named_with_the_topics_there_are(kafka_broker, tmp_path):
    from ingestion.protocol import SourceError

    present = new_topic(kafka_broker, 1)
    conn = connection(kafka_broker, [{"name": "sales", "topic": "no.such.topic"}])
    with pytest.raises(
        SourceError, match=rf"stream sales: no topic 'no.such.topic' \(topics: .*{present}"
    ):
        sync_connection(open_lake(str(tmp_path)), "events", conn)
    assert not (tmp_path / "bronze" / "events").exists()
