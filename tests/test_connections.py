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
    assert set(parsed.connections) == {"shop", "clickstream", "fx"}
    assert parsed.connections["shop"].sql_config().dsn == "sqlite:///x.db"
    assert parsed.connections["clickstream"].files_config().url == "/landing/clickstream"


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
    assert load_connections(path, {}).connections["db"].sql_config().dsn == "sqlite:///default.db"


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
        ("[{name: orders, colour: blue}]", r"streams\[0\]\.colour: Extra inputs"),
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
    with pytest.raises(ConnectionsError, match=r"streams\[0\]: a files stream needs `pattern`"):
        load_connections(path, {})


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConnectionsError, match="connections file not found"):
        load_connections(tmp_path / "nope.yml", {})
    with pytest.raises(ConnectionsError, match="not valid YAML"):
        load_connections(write(tmp_path, "connections: [unclosed"), {})
