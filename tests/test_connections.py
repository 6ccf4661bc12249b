"""The connections file: placeholders from the environment, errors naming file and key."""

from __future__ import annotations

import pytest

from ingestion.connections import ConnectionsError, load_connections
from orchestration.settings import REPO_ROOT


def write(tmp_path, text: str):
    path = tmp_path / "connections.yml"
    path.write_text(text)
    return path


def test_the_repository_connections_file_is_valid():
    parsed = load_connections(
        REPO_ROOT / "connections.yml", {"OLTP_DSN": "sqlite:///x.db", "LANDING_URL": "/landing"}
    )
    assert set(parsed.connections) >= {"shop", "clickstream", "fx"}
    assert parsed.connections["shop"].source_config()["dsn"] == "sqlite:///x.db"
    assert parsed.connections["clickstream"].source_config()["url"] == "/landing/clickstream"
    orders = parsed.connections["shop"].stream("orders")
    assert (orders.sync_mode, orders.destination_sync_mode, orders.cursor_field) == (
        "incremental",
        "append_dedup",
        "updated_at",
    )
    assert orders.options == {"name": "orders", "checksum_columns": ["order_total_cents"]}


def test_placeholders_take_defaults_and_ignore_comments(tmp_path):
    path = write(
        tmp_path,
        """
# ${NOT_A_PLACEHOLDER_IN_A_COMMENT}
connections:
  db:
    source: sql
    config: {dsn: "${DB_DSN:-sqlite:///default.db}"}
    streams: [{name: orders}]
""",
    )
    config = load_connections(path, {}).connections["db"].source_config()
    assert config["dsn"] == "sqlite:///default.db"


def test_unset_variable_names_the_key(tmp_path):
    path = write(
        tmp_path,
        "connections:\n  db:\n    source: sql\n    config: {dsn: '${SECRET_DSN}'}\n"
        "    streams: [{name: orders}]\n",
    )
    with pytest.raises(
        ConnectionsError, match=r"connections\.db\.config\.dsn: environment variable SECRET_DSN"
    ):
        load_connections(path, {})


@pytest.mark.parametrize(
    ("streams", "expected"),
    [
        ("[{name: orders, sync_mode: sometimes}]", r"connections\.db\.streams\[0\]\.sync_mode"),
        ("[{name: Orders}]", r"connections\.db\.streams\[0\]\.name.*not a valid name"),
        ("[{name: orders, primary_key: ['id; drop table x']}]", r"primary_key.*not a valid name"),
        ("[{name: orders, colour: blue}]", r"connections\.db\.streams\[0\]\.colour: Extra inputs"),
        (
            "[{name: orders, sync_mode: incremental}]",
            r"streams\[0\]\.cursor_field: an incremental sql stream needs a cursor_field",
        ),
        (
            "[{name: orders, destination_sync_mode: append_dedup}]",
            r"append_dedup needs a primary_key",
        ),
        (
            "[{name: orders, sync_mode: incremental, cursor_field: u, "
            "destination_sync_mode: overwrite}]",
            r"an incremental stream appends",
        ),
        ("[{name: orders, schedule: hourly}]", r"not a cron expression"),
        ("[]", r"connections\.db\.streams"),
    ],
)
def test_invalid_streams_name_the_key_and_the_expectation(tmp_path, streams, expected):
    path = write(
        tmp_path,
        f"connections:\n  db:\n    source: sql\n    config: {{dsn: 'sqlite:///x'}}\n"
        f"    streams: {streams}\n",
    )
    with pytest.raises(ConnectionsError, match=expected) as error:
        load_connections(path, {})
    assert str(path) in str(error.value)


def test_files_stream_needs_pattern_and_format(tmp_path):
    path = write(
        tmp_path,
        "connections:\n  landing:\n    source: files\n    config: {url: /x}\n"
        "    streams: [{name: events}]\n",
    )
    with pytest.raises(ConnectionsError) as error:
        load_connections(path, {})
    assert "connections.landing.streams[0].pattern: Field required" in str(error.value)
    assert "connections.landing.streams[0].format: Field required" in str(error.value)


def test_source_options_are_checked_by_the_source(tmp_path):
    path = write(
        tmp_path,
        "connections:\n  landing:\n    source: files\n    config: {url: /x, depth: 3}\n"
        "    streams: [{name: events, pattern: '*.csv', format: xml, schema: {a: money}}]\n",
    )
    with pytest.raises(ConnectionsError) as error:
        load_connections(path, {})
    message = str(error.value)
    assert "connections.landing.config.depth: Extra inputs are not permitted" in message
    assert "connections.landing.streams[0].format: Input should be 'jsonl', 'csv'" in message
    assert "connections.landing.streams[0].schema: Value error, unknown type 'money'" in message


def test_unknown_source_type_lists_the_known_ones(tmp_path):
    path = write(
        tmp_path,
        "connections:\n  x:\n    source: mainframe\n    config: {}\n    streams: [{name: a}]\n",
    )
    with pytest.raises(
        ConnectionsError, match=r"connections\.x\.source: .*unknown source 'mainframe'"
    ):
        load_connections(path, {})


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConnectionsError, match="connections file not found"):
        load_connections(tmp_path / "nope.yml", {})
    with pytest.raises(ConnectionsError, match="not valid YAML"):
        load_connections(write(tmp_path, "connections: [unclosed"), {})
