"""`lakehouse stream` against a real broker: killed at random moments and inside its
commits while a producer writes, then restarted, bronze holds every produced message
exactly once (no gap, no repeat); SIGTERM commits the open window and exits 0; window
figures go to _ops and an alert fires past a threshold; the consumer group's own offsets
do not decide where a stream resumes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from ingestion.commit import KILL_AT_VARIABLE
from serving.duckdb_catalog import open_served
from tests.test_kafka_source import new_topic

SEED = 20261204


def write_connections(path: Path, topic: str) -> Path:
    path.write_text(
        "connections:\n"
        "  events:\n"
        "    source: kafka\n"
        "    config:\n"
        "      bootstrap_servers: ${KAFKA_BOOTSTRAP_SERVERS}\n"
        "      group_id: lakehouse-test\n"
        "    streams:\n"
        f"      - {{name: sales, topic: {topic}, sync_mode: incremental}}\n",
        encoding="utf-8",
    )
    return path


def stream_process(broker, tmp_path: Path, topic: str, *args: str, kill_at: str | None = None):
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "CONNECTIONS_FILE": str(write_connections(tmp_path / "connections.yml", topic)),
        "LAKE_URL": str(tmp_path / "lake"),
        "DATA_DIR": str(tmp_path),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    if kill_at:
        env[KILL_AT_VARIABLE] = kill_at
    return subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "stream", "events", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def produce_ids(broker, topic: str, ids: range, pause: float = 0.0) -> None:
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 5})
    for i in ids:
        producer.produce(topic, value=json.dumps({"id": i}).encode(), key=b"%d" % (i % 13))
        if pause and i % 500 == 0:
            producer.flush()
            time.sleep(pause)
    producer.flush()


def bronze_ids(tmp_path: Path) -> Counter:
    folder = tmp_path / "lake" / "bronze" / "events" / "sales"
    if not folder.exists():
        return Counter()
    con = duckdb.connect()
    rows = con.sql(
        f"select id, _kafka_partition, _kafka_offset from read_parquet('{folder}/*/*.parquet')"
    ).fetchall()
    return Counter(rows)


def committed_offsets(tmp_path: Path) -> dict[str, int]:
    state = json.loads((tmp_path / "lake" / "_ops" / "state" / "events.json").read_text())
    return state["streams"]["sales"]["state"]["offsets"]


def test_a_stream_killed_at_random_points_while_producing_lands_each_message_once(
    kafka_broker, tmp_path
):
    topic = new_topic(kafka_broker, 3)
    rng = random.Random(SEED)
    window = ("--flush-size", "700", "--rotate-seconds", "0.3", "--no-dagster")
    # plain kills at random moments, and kills inside a commit (see ingestion.commit)
    kills = [None, None, "staged:2", "committed:3", "moved-one:2", "moved-all:2", None, None]
    per_trial = 1500
    total = per_trial * len(kills)
    for trial, kill_at in enumerate(kills):
        # each trial's messages arrive while its stream runs
        ids = range(trial * per_trial, (trial + 1) * per_trial)
        producer = threading.Thread(target=produce_ids, args=(kafka_broker, topic, ids, 0.2))
        producer.start()
        child = stream_process(kafka_broker, tmp_path, topic, *window, kill_at=kill_at)
        try:
            child.wait(timeout=rng.uniform(0.5, 3.0) if kill_at is None else 30)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
        _, errors = child.communicate(timeout=60)
        assert child.returncode == -signal.SIGKILL, f"{kill_at}: {errors}"
        producer.join()
    final = stream_process(
        kafka_broker, tmp_path, topic, "--until-caught-up", "--rotate-seconds", "1"
    )
    _, errors = final.communicate(timeout=180)
    assert final.returncode == 0, errors

    landed = bronze_ids(tmp_path)
    ids = Counter(i for i, _, _ in landed.elements())
    assert sum(landed.values()) == total, f"{sum(landed.values()) - total:+} rows vs produced"
    assert max(landed.values()) == 1, "a message landed twice"
    assert sorted(ids) == list(range(total))
    # per partition, offsets run from 0 without a gap, to the committed offset
    by_partition: dict[int, list[int]] = {}
    for _, partition, offset in landed:
        by_partition.setdefault(partition, []).append(offset)
    offsets = committed_offsets(tmp_path)
    for partition, seen in by_partition.items():
        assert sorted(seen) == list(range(len(seen)))
        assert offsets[str(partition)] == len(seen)
    windows = list((tmp_path / "lake" / "_ops" / "stream_windows" / "events").glob("*.json"))
    assert windows and any(json.loads(w.read_text())["records"] for w in windows)


def test_sigterm_commits_the_open_window_and_exits_0(kafka_broker, tmp_path):
    topic = new_topic(kafka_broker, 2)
    produce_ids(kafka_broker, topic, range(3000))
    # a long window: SIGTERM comes while it is open
    child = stream_process(kafka_broker, tmp_path, topic, "--rotate-seconds", "60")
    deadline = time.monotonic() + 60
    while not (tmp_path / "lake" / "_ops" / "running" / "events.json").exists():
        assert time.monotonic() < deadline and child.poll() is None
        time.sleep(0.05)
    time.sleep(1.5)
    child.send_signal(signal.SIGTERM)
    out, errors = child.communicate(timeout=60)
    assert child.returncode == 0, errors
    assert "3,000 records" in out
    assert sum(bronze_ids(tmp_path).values()) == 3000
    assert sum(committed_offsets(tmp_path).values()) == 3000
    # Dagster saw the window on the bronze asset, with its lag and latency
    from dagster import AssetKey, DagsterInstance

    instance = DagsterInstance.from_config(str(tmp_path / "dagster_home"))
    key = AssetKey(["bronze", "events", "sales"])
    materialization = instance.get_latest_materialization_event(key)
    assert materialization is not None
    assert materialization.asset_materialization.metadata["dagster/row_count"].value == 3000
    observations = instance.fetch_observations(key, limit=10).records
    assert observations[0].asset_observation.metadata["records"].value == 3000


def test_the_consumer_group_offsets_are_informational_and_lag_alerts_fire(kafka_broker, tmp_path):
    """Another member of the same group commits the topic's end (a rebalance or a second
    consumer would): the stream still resumes from the lake's offsets, reads everything,
    commits its own offsets to the group afterwards, and a lag threshold of 0 alerts."""
    topic = new_topic(kafka_broker, 2)
    produce_ids(kafka_broker, topic, range(2000))
    other = Consumer(
        {"bootstrap.servers": kafka_broker.bootstrap_servers, "group.id": "lakehouse-test"}
    )
    other.commit(offsets=[TopicPartition(topic, p, 10_000) for p in (0, 1)], asynchronous=False)
    other.close()
    child = stream_process(
        kafka_broker,
        tmp_path,
        topic,
        "--until-caught-up",
        "--rotate-seconds",
        "0.5",
        "--flush-size",
        "500",
        "--max-lag",
        "0",
    )
    _, errors = child.communicate(timeout=120)
    assert child.returncode == 0, errors
    assert sum(bronze_ids(tmp_path).values()) == 2000
    group = Consumer(
        {"bootstrap.servers": kafka_broker.bootstrap_servers, "group.id": "lakehouse-test"}
    )
    committed = group.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=10)
    group.close()
    assert {str(tp.partition): tp.offset for tp in committed} == committed_offsets(tmp_path)
    alerts = [
        json.loads(p.read_text()) for p in (tmp_path / "lake" / "_ops" / "alerts").glob("*.json")
    ]
    assert [a["kind"] for a in alerts] == ["stream_lag"]
    assert "messages behind" in alerts[0]["title"]


@pytest.mark.parametrize("source", ["sql"])
def test_stream_refuses_a_connection_that_is_not_kafka(tmp_path, source):
    from ingestion.connections import Connection
    from ingestion.streaming.loop import StreamSettings, run_stream
    from lake import open_lake

    conn = Connection.model_validate(
        {"source": source, "config": {"dsn": "sqlite:///x.db"}, "streams": [{"name": "t"}]}
    )
    with pytest.raises(ValueError, match="kafka connections"):
        run_stream(open_lake(str(tmp_path)), "shop", conn, StreamSettings())


def test_the_stream_demo_prints_windows_refreshes_the_live_marts_and_stops_cleanly(tmp_path):
    """`make demo-stream`'s program, stopped by --seconds: its own broker, producer and
    stream; windows with records are printed and land in the lake; the live marts are
    refreshed and published while it runs, and once more after the stream stopped, so the
    served mart then counts every sale that landed."""
    env = {**os.environ, "DATA_DIR": str(tmp_path), "DAGSTER_HOME": str(tmp_path / "dagster")}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    env.pop("LAKE_URL", None)
    demo = subprocess.run(
        [sys.executable, "-m", "orchestration.stream_demo", "--seconds", "20", "--rate", "2000",
         "--rotate-seconds", "1", "--refresh-seconds", "8"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "the stream exited 0" in demo.stdout
    windows = [line for line in demo.stdout.splitlines() if " records, " in line]
    assert windows and any(not line.split(": ")[1].startswith("0 records") for line in windows)
    sales = tmp_path / "lake" / "bronze" / "events" / "sales_events"
    assert list(sales.rglob("*.parquet"))
    refreshes = [line for line in demo.stdout.splitlines() if line.startswith("marts: dbt")]
    assert len(refreshes) >= 2 and "last minute" in refreshes[-1], demo.stdout[-3000:]
    con = duckdb.connect()
    (landed,) = con.execute(
        f"select count(distinct (_kafka_partition, _kafka_offset)) from read_parquet("
        f"'{sales}/*/*.parquet')"
    ).fetchone()
    served = open_served(tmp_path / "serving" / "gold.duckdb")
    (counted,) = served.execute(
        "select sum(sales_count) from analytics.live_sales_per_minute"
    ).fetchone()
    assert counted == landed > 0
