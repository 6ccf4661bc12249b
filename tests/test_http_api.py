"""The http_api source against real HTTP on loopback: the CRM API, and small stand-in
servers for the failures the CRM does not produce (5xx, hangs, malformed JSON)."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pyarrow as pa
import pytest
from airbyte_protocol.models import AirbyteMessage, ConfiguredAirbyteCatalog, Type
from pydantic import ValidationError

from datagen.crm import CONTACTS_SCHEMA, generate_crm
from datagen.crm_api import CrmApiServer
from ingestion.protocol import Checkpoint, Records, Rejected, SourceError, SourceTotals
from ingestion.sources.http_api import HttpApiSource
from ingestion.sources.http_client import display_url, retry_after_seconds

REPO_ROOT = Path(__file__).resolve().parent.parent
TOKEN = "crm-secret-token"
SOURCE = HttpApiSource()
FAST_RETRIES = {"max_retries": 2, "backoff_initial_seconds": 0.01, "backoff_max_seconds": 0.05}
IDS = {"contacts": "contact_id", "deals": "deal_id"}


# -- helpers --------------------------------------------------------------------------------
def crm_stream(name: str, **overrides: Any) -> dict[str, Any]:
    stream = {
        "name": name,
        "path": f"/v1/{name}",
        "records_path": "data",
        "total_path": "total",
        "pagination": {
            "type": "page",
            "size_param": "per_page",
            "size": 100,
            "next_path": "next_page",
        },
        "incremental": {"cursor_param": "updated_since", "sorted_by_cursor": True},
    }
    return {**stream, **overrides}


def crm_config(url: str, *streams: dict[str, Any], token: str = TOKEN, **top: Any) -> Any:
    raw = {
        "base_url": url,
        "auth": {"type": "bearer", "token": token},
        **FAST_RETRIES,
        "streams": list(streams) or [crm_stream("contacts"), crm_stream("deals")],
        **top,
    }
    return SOURCE.parse_config(raw)


def catalog(*names: str, incremental: bool = False) -> ConfiguredAirbyteCatalog:
    streams = []
    for name in names:
        stream: dict[str, Any] = {
            "stream": {"name": name, "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
            "sync_mode": "incremental" if incremental else "full_refresh",
            "destination_sync_mode": "append_dedup" if incremental else "overwrite",
        }
        if incremental:
            stream["cursor_field"] = ["updated_at"]
            stream["primary_key"] = [[IDS.get(name, "id")]]
        streams.append(stream)
    return ConfiguredAirbyteCatalog.model_validate({"streams": streams})


@dataclass
class Read:
    batches: list[pa.Table] = field(default_factory=list)
    rejects: list[pa.Table] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)

    @property
    def records(self) -> pa.Table:
        return pa.concat_tables(self.batches, promote_options="default")

    @property
    def rejected(self) -> list[dict[str, Any]]:
        return [row for table in self.rejects for row in table.to_pylist()]


def collect(events: Iterable[Any]) -> dict[str, Read]:
    reads: dict[str, Read] = {}
    for event in events:
        read = reads.setdefault(event.stream, Read())
        if isinstance(event, Records):
            read.batches.append(pa.table(event.data))
        elif isinstance(event, Rejected):
            read.rejects.append(event.rejects.table)
        elif isinstance(event, Checkpoint):
            read.checkpoints.append(event.state)
        elif isinstance(event, SourceTotals):
            read.totals.append(event.rows)
    return reads


# -- a stand-in HTTP server -----------------------------------------------------------------
HANG = object()  # answer: never respond


@dataclass(frozen=True)
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


Answer = tuple[int, Any, dict[str, str]]


class Stub:
    """Serves GET with `respond(n, path, query)` (n: 1-based request count) returning
    (status, body: bytes | str | JSON value, headers), or HANG."""

    def __init__(self, respond: Callable[[int, str, dict[str, str]], Answer | object]):
        self.respond = respond
        self.requests: list[Seen] = []
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _StubHandler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.httpd.stub = self  # type: ignore[attr-defined]

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"


class _StubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        stub: Stub = self.server.stub  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        with stub.lock:
            stub.requests.append(
                Seen(url.path, query, {k.lower(): v for k, v in self.headers.items()})
            )
            n = len(stub.requests)
        answer = stub.respond(n, url.path, query)
        if answer is HANG:
            stub.release.wait(10)
            self.close_connection = True
            return
        status, body, headers = answer  # type: ignore[misc]
        if isinstance(body, bytes):
            payload = body
        elif isinstance(body, str):
            payload = body.encode()
        else:
            payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def stub_server(respond: Callable[[int, str, dict[str, str]], Answer | object]) -> Iterator[Stub]:
    stub = Stub(respond)
    thread = threading.Thread(target=stub.httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield stub
    finally:
        stub.release.set()
        stub.httpd.shutdown()
        thread.join()
        stub.httpd.server_close()


def stub_config(url: str, stream: dict[str, Any], **top: Any) -> Any:
    return SOURCE.parse_config({"base_url": url, **FAST_RETRIES, **top, "streams": [stream]})


def items_page(items: list[Any], page: int, size: int) -> list[Any]:
    return items[(page - 1) * size : page * size]


# -- the CRM API ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    return generate_crm(n_customers=1_000, seed=42)


@pytest.fixture(scope="module")
def crm(tables: dict[str, pa.Table]) -> Iterator[CrmApiServer]:
    with CrmApiServer(tables, TOKEN, requests_per_second=1_000.0, burst=1_000) as api:
        yield api


def test_full_read_matches_the_generated_tables(
    crm: CrmApiServer, tables: dict[str, pa.Table]
) -> None:
    # contacts end on a short page (400 = 6 * 64 + 16), deals on an empty one (200 = 2 * 100)
    contacts = crm_stream("contacts", pagination={"type": "page", "size": 64})
    deals = crm_stream("deals", pagination={"type": "page", "size": 100})
    config = crm_config(crm.url, contacts, deals, batch_records=150)
    reads = collect(SOURCE.read(config, catalog("contacts", "deals"), {}))

    for name, id_column in IDS.items():
        read, expected = reads[name], tables[name].sort_by(id_column)
        got = read.records.sort_by(id_column)
        assert got.column_names == expected.column_names
        assert got.to_pylist() == expected.to_pylist()
        assert got.schema.field(id_column).type == pa.int64()
        assert read.totals == [expected.num_rows]
        assert read.rejects == []
        assert read.checkpoints == [{}]  # full refresh: one checkpoint, at the end
    assert [b.num_rows for b in reads["contacts"].batches] == [192, 192, 16]  # 3 pages a batch
    deals = reads["deals"].records.sort_by("deal_id")
    assert deals["amount"].type == pa.float64()
    assert deals.slice(0, 1).to_pylist()[0] == tables["deals"].sort_by("deal_id").to_pylist()[0]


def test_check_and_discover(crm: CrmApiServer) -> None:
    config = crm_config(crm.url)
    SOURCE.check(config)
    streams = {s.name: s for s in SOURCE.discover(config).streams}
    assert set(streams) == {"contacts", "deals"}
    properties = streams["deals"].json_schema["properties"]
    assert properties["deal_id"]["type"] == ["null", "integer"]
    assert properties["amount"]["type"] == ["null", "number"]
    assert properties["updated_at"]["type"] == ["null", "string"]
    assert not streams["deals"].source_defined_cursor
    assert streams["deals"].source_defined_primary_key is None


def _contact(row: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**row, **changes}


def test_incremental_reads_new_updated_and_boundary_records(tables: dict[str, pa.Table]) -> None:
    with CrmApiServer(tables, TOKEN, requests_per_second=1_000.0, burst=1_000) as api:
        first = collect(SOURCE.read(crm_config(api.url), catalog("contacts", incremental=True), {}))
    state = first["contacts"].checkpoints[-1]
    cursor = max(tables["contacts"]["updated_at"].to_pylist())
    assert state == {"cursor_field": "updated_at", "cursor": cursor}
    assert first["contacts"].records.num_rows == 400

    # the CRM changes after the sync: three old contacts are updated, two are added, one of
    # them in the very second of the last cursor (a strictly-newer filter would skip it)
    rows = tables["contacts"].sort_by("updated_at").to_pylist()
    later = (datetime.fromisoformat(cursor) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    updated_ids = [rows[i]["contact_id"] for i in range(3)]
    for i in range(3):
        rows[i] = _contact(rows[i], lifecycle_stage="customer", updated_at=later)
    template = rows[10]
    rows.append(_contact(template, contact_id=401, customer_id=5_001, updated_at=cursor))
    rows.append(_contact(template, contact_id=402, customer_id=5_002, updated_at=later))
    changed = {"contacts": pa.Table.from_pylist(rows, schema=CONTACTS_SCHEMA)}

    with CrmApiServer(changed, TOKEN, requests_per_second=1_000.0, burst=1_000) as api:
        second = collect(
            SOURCE.read(
                crm_config(api.url), catalog("contacts", incremental=True), {"contacts": state}
            )
        )["contacts"]
    got = {r["contact_id"]: r for r in second.records.to_pylist()}
    assert {*updated_ids, 401, 402} <= set(got)
    assert all(got[i]["lifecycle_stage"] == "customer" for i in updated_ids)
    # nothing older than the cursor; at the cursor only the boundary records, read again
    assert all(r["updated_at"] >= cursor for r in got.values())
    at_boundary = {i for i, r in got.items() if r["updated_at"] == cursor}
    originally_at_boundary = {
        r["contact_id"] for r in tables["contacts"].to_pylist() if r["updated_at"] == cursor
    }
    assert at_boundary == originally_at_boundary | {401}
    assert set(got) == {*updated_ids, 401, 402} | originally_at_boundary
    assert second.totals == [len(got)]
    assert second.checkpoints[-1] == {"cursor_field": "updated_at", "cursor": later}


def test_interrupted_read_resumes_from_its_last_checkpoint(
    crm: CrmApiServer, tables: dict[str, pa.Table]
) -> None:
    config = crm_config(
        crm.url,
        crm_stream("contacts", pagination={"type": "page", "size": 50, "next_path": "next_page"}),
        batch_records=100,
    )
    events = SOURCE.read(config, catalog("contacts", incremental=True), {})
    before: list[dict[str, Any]] = []
    checkpoints = 0
    for event in events:  # the sync dies right after its second checkpoint
        if isinstance(event, Records):
            before.extend(event.data.to_pylist())
        elif isinstance(event, Checkpoint):
            checkpoints += 1
            if checkpoints == 2:
                state = event.state
                break
    events.close()  # type: ignore[attr-defined]
    assert len(before) == 200
    assert state["cursor"] == max(r["updated_at"] for r in before)

    after = collect(SOURCE.read(config, catalog("contacts", incremental=True), {"contacts": state}))
    resumed = after["contacts"].records.to_pylist()
    ids = {r["contact_id"] for r in before} | {r["contact_id"] for r in resumed}
    assert ids == set(tables["contacts"]["contact_id"].to_pylist())
    overlap = {r["contact_id"] for r in before} & {r["contact_id"] for r in resumed}
    assert all(r["updated_at"] == state["cursor"] for r in resumed if r["contact_id"] in overlap)


def test_rate_limit_429_waits_for_retry_after(
    tables: dict[str, pa.Table], caplog: pytest.LogCaptureFixture
) -> None:
    # 4 pages against 2 requests/s with a burst of 2: the third request gets 429 + Retry-After: 1
    caplog.set_level(logging.WARNING, logger="ingestion.sources.http_client")
    deals = crm_stream("deals", pagination={"type": "page", "size": 50, "next_path": "next_page"})
    with CrmApiServer(tables, TOKEN, requests_per_second=2.0, burst=2) as api:
        config = crm_config(api.url, deals, max_retries=5, backoff_max_seconds=5)
        started = time.monotonic()
        read = collect(SOURCE.read(config, catalog("deals"), {}))["deals"]
        elapsed = time.monotonic() - started
    assert sorted(read.records["deal_id"].to_pylist()) == list(range(1, 201))
    waits = [r.getMessage() for r in caplog.records if "429" in r.getMessage()]
    assert waits and all("Retry-After 1 s" in w for w in waits)
    assert elapsed >= 0.9 * len(waits)
    assert TOKEN not in caplog.text


def test_wrong_token_is_a_clear_error(crm: CrmApiServer) -> None:
    config = crm_config(crm.url, token="not-the-token")
    with pytest.raises(
        SourceError,
        match=r"contacts: GET .*/v1/contacts.*\(401 Unauthorized\): the token is wrong or missing",
    ) as error:
        collect(SOURCE.read(config, catalog("contacts"), {}))
    assert "not-the-token" not in str(error.value)
    with pytest.raises(SourceError, match="401"):
        SOURCE.check(config)
    assert "not-the-token" not in repr(config)


# -- failures, on a stand-in server ---------------------------------------------------------
ROWS = [{"id": i, "updated_at": f"2026-01-0{i}T00:00:00Z"} for i in range(1, 8)]


def test_server_errors_are_retried_until_success(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ingestion.sources.http_client")
    answers = [(500, {"error": "boom"}, {}), (503, "busy", {}), (200, {"items": ROWS}, {})]
    with stub_server(lambda n, path, query: answers[n - 1]) as stub:
        config = stub_config(stub.url, {"name": "items", "path": "/items", "records_path": "items"})
        read = collect(SOURCE.read(config, catalog("items"), {}))["items"]
    assert read.records["id"].to_pylist() == [1, 2, 3, 4, 5, 6, 7]
    assert len(stub.requests) == 3
    assert ["500" in caplog.records[0].getMessage(), "503" in caplog.records[1].getMessage()] == [
        True,
        True,
    ]


def test_retries_give_up_with_the_stream_url_and_last_answer() -> None:
    with stub_server(lambda n, path, query: (502, {"message": "upstream down"}, {})) as stub:
        stream = {"name": "items", "path": "/items", "params": {"api_key": "hunter2", "kind": "a"}}
        config = stub_config(stub.url, stream)
        with pytest.raises(SourceError) as error:
            collect(SOURCE.read(config, catalog("items"), {}))
    message = str(error.value)
    assert message.startswith(f"items: GET {stub.url}/items?api_key=***&kind=a failed 3 times")
    assert "502 Bad Gateway: upstream down" in message
    assert "hunter2" not in message
    assert len(stub.requests) == 3  # the first attempt and max_retries=2


def test_a_hanging_server_times_out_and_fails_in_bounded_time() -> None:
    with stub_server(lambda n, path, query: HANG) as stub:
        config = stub_config(stub.url, {"name": "items", "path": "/items"}, timeout_seconds=0.2)
        started = time.monotonic()
        with pytest.raises(
            SourceError, match=r"items: GET .*/items failed 3 times.*timeout_seconds=0.2"
        ):
            collect(SOURCE.read(config, catalog("items"), {}))
        elapsed = time.monotonic() - started
    assert 0.6 <= elapsed < 3
    assert len(stub.requests) == 3


def test_an_unreachable_api_fails_after_retries() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = stub_config(f"http://127.0.0.1:{port}", {"name": "items", "path": "/items"})
    with pytest.raises(
        SourceError, match=r"items: GET .* failed 3 times; last error: ConnectError"
    ):
        collect(SOURCE.read(config, catalog("items"), {}))


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retry_after_is_capped_by_backoff_max(form: str) -> None:
    # the date is taken when the test runs, not when it is collected (minutes earlier)
    in_two_minutes = format_datetime(datetime.now(UTC) + timedelta(minutes=2), usegmt=True)
    retry_after = "120" if form == "seconds" else in_two_minutes
    answers = [(429, {"message": "slow down"}, {"Retry-After": retry_after}), (200, ROWS, {})]
    with stub_server(lambda n, path, query: answers[n - 1]) as stub:
        config = stub_config(stub.url, {"name": "items", "path": "/items"}, backoff_max_seconds=0.3)
        started = time.monotonic()
        read = collect(SOURCE.read(config, catalog("items"), {}))["items"]
        elapsed = time.monotonic() - started
    assert read.records.num_rows == 7
    assert 0.25 <= elapsed < 2


def test_retry_after_values() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(" 1.5 ") == 1.5
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:10 GMT", now=now) == 10.0
    assert retry_after_seconds("Wed, 31 Dec 2025 23:00:00 GMT", now=now) == 0.0
    assert [retry_after_seconds(v) for v in (None, "", "-1", "nan", "soon")] == [None] * 5


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            404,
            {"error": "not_found", "message": "no resource 'itemz'"},
            "404 Not Found.*check base_url.*no resource 'itemz'",
        ),
        (400, {"detail": "bad filter"}, r"\(400 Bad Request\): bad filter"),
        (403, "<html>denied</html>", "403 Forbidden.*no access.*<html>denied</html>"),
    ],
)
def test_client_errors_fail_at_once_with_the_api_message(
    status: int, body: Any, expected: str
) -> None:
    with stub_server(lambda n, path, query: (status, body, {})) as stub:
        config = stub_config(stub.url, {"name": "items", "path": "/items"})
        with pytest.raises(SourceError, match=expected):
            collect(SOURCE.read(config, catalog("items"), {}))
    assert len(stub.requests) == 1


def test_malformed_records_go_to_the_dlq_and_a_cut_off_page_is_retried() -> None:
    pages = {
        "1": {
            "data": [{"id": 1, "tags": ["a", "b"], "owner": {"name": "x"}}, "oops", 42, {"id": 2}]
        },
        "2": {"data": [{"id": 3}, {"id": 5}, {"id": 6}, {"id": 7}]},
        "3": {"data": [None, {"id": 4, "extra": True}]},
    }

    def respond(n: int, path: str, query: dict[str, str]) -> Answer:
        if n == 2:  # page 2, first try: a 200 cut off mid-body
            return 200, b'{"data": [{"id": 3}, {"i', {}
        return 200, pages.get(query["page"], {"data": []}), {}

    stream = {
        "name": "items",
        "path": "/items",
        "records_path": "data",
        "pagination": {"type": "page", "size_param": "size", "size": 4},
    }
    with stub_server(respond) as stub:
        read = collect(SOURCE.read(stub_config(stub.url, stream), catalog("items"), {}))["items"]
    records = read.records.to_pylist()
    assert [r["id"] for r in records] == [1, 2, 3, 5, 6, 7, 4]
    assert records[0]["tags"] == '["a","b"]' and records[0]["owner"] == '{"name":"x"}'
    assert records[-1]["extra"] is True and records[0]["extra"] is None
    rejected = read.rejected
    assert [(r["raw"], r["location"]) for r in rejected] == [
        ('"oops"', "GET /items?page=1&size=4 page 1"),
        ("42", "GET /items?page=1&size=4 page 1"),
        ("null", "GET /items?page=3&size=4 page 3"),
    ]
    assert "not a JSON object" in rejected[0]["reason"] and "JSON string" in rejected[0]["reason"]
    assert read.totals == [10]  # every item of every page
    # page 2 twice (cut off, then whole); page 3 is short
    assert [q.query["page"] for q in stub.requests] == ["1", "2", "2", "3"]


def test_a_page_that_stays_unparsable_fails_naming_url_page_and_parse_error() -> None:
    def respond(n: int, path: str, query: dict[str, str]) -> Answer:
        if query["page"] == "1":
            return 200, {"data": ROWS[:2]}, {}
        return 200, b'{"data": [{"id": 3}, {"i', {}

    stream = {
        "name": "items",
        "path": "/items",
        "params": {"api_key": "hunter2"},
        "records_path": "data",
        "pagination": {"type": "page", "size_param": "size", "size": 2},
    }
    with stub_server(respond) as stub, pytest.raises(SourceError) as error:
        collect(SOURCE.read(stub_config(stub.url, stream), catalog("items"), {}))
    message = str(error.value)
    assert message.startswith(
        f"items: GET {stub.url}/items?api_key=***&page=2&size=2 (page 2) answered 3 times "
        "with a body that is not JSON; last: 200 with 24 bytes: "
    )
    assert "hunter2" not in message
    assert len(stub.requests) == 4  # page 1, and page 2 three times


def test_missing_records_path_is_a_rejected_page_and_check_fails() -> None:
    with stub_server(lambda n, path, query: (200, {"results": ROWS}, {})) as stub:
        config = stub_config(stub.url, {"name": "items", "path": "/items", "records_path": "data"})
        with pytest.raises(
            SourceError, match=r"no records_path 'data' in the body \(it has keys \['results'\]\)"
        ):
            SOURCE.check(config)
        read = collect(SOURCE.read(config, catalog("items"), {}))["items"]
    assert read.batches == [] and len(read.rejected) == 1


@pytest.mark.parametrize(
    ("pagination", "expected_queries"),
    [
        (
            {"type": "offset", "size": 3},
            [
                {"offset": "0", "limit": "3"},
                {"offset": "3", "limit": "3"},
                {"offset": "6", "limit": "3"},
            ],
        ),
        (
            {
                "type": "cursor",
                "cursor_path": "meta.next",
                "cursor_param": "after",
                "size_param": "n",
                "size": 3,
            },
            [{"n": "3"}, {"after": "c3", "n": "3"}, {"after": "c6", "n": "3"}],
        ),
        (
            {
                "type": "page",
                "page_param": "p",
                "size_param": None,
                "start": 0,
                "next_path": "meta.more",
            },
            [{"p": "0"}, {"p": "1"}, {"p": "2"}],
        ),
        ({"type": "none"}, [{}]),
    ],
    ids=["offset", "cursor", "page-next-path", "none"],
)
def test_pagination_kinds(
    pagination: dict[str, Any], expected_queries: list[dict[str, str]]
) -> None:
    def respond(n: int, path: str, query: dict[str, str]) -> Answer:
        kind = pagination["type"]
        if kind == "offset":
            start = int(query["offset"])
        elif kind == "cursor":
            start = int(query.get("after", "c0")[1:])
        elif kind == "page":
            start = int(query["p"]) * 3
        else:
            return 200, {"rows": ROWS, "meta": {}}, {}
        chunk = ROWS[start : start + 3]
        end = start + len(chunk)
        more = end < len(ROWS)
        meta = {"next": f"c{end}" if more else None, "more": more}
        return 200, {"rows": chunk, "meta": meta}, {}

    stream = {
        "name": "items",
        "path": "/items",
        "records_path": "rows",
        "pagination": pagination,
        "params": {"q": "x"},
    }
    with stub_server(respond) as stub:
        read = collect(SOURCE.read(stub_config(stub.url, stream), catalog("items"), {}))["items"]
    assert read.records["id"].to_pylist() == [1, 2, 3, 4, 5, 6, 7]
    assert [
        {k: v for k, v in r.query.items() if k != "q"} for r in stub.requests
    ] == expected_queries
    assert all(r.query["q"] == "x" for r in stub.requests)


def test_an_api_that_ignores_the_page_parameter_is_an_error() -> None:
    with stub_server(lambda n, path, query: (200, ROWS[:3], {})) as stub:
        stream = {"name": "items", "path": "/items", "pagination": {"type": "page", "size": 3}}
        with pytest.raises(SourceError, match="same records as the page before"):
            collect(SOURCE.read(stub_config(stub.url, stream), catalog("items"), {}))


def test_check_asks_for_one_record_with_header_auth_and_static_headers() -> None:
    with stub_server(lambda n, path, query: (200, {"data": ROWS[:1]}, {})) as stub:
        config = stub_config(
            stub.url.rstrip("/") + "/api",
            {
                "name": "items",
                "path": "items",
                "records_path": "data",
                "pagination": {"type": "page", "size": 50},
            },
            auth={"type": "header", "name": "X-API-Key", "value": "k-123"},
            headers={"X-Tenant": "acme"},
        )
        SOURCE.check(config)
    [request] = stub.requests
    assert request.path == "/api/items"
    assert request.query == {"page": "1", "per_page": "1"}
    assert request.headers["x-api-key"] == "k-123" and request.headers["x-tenant"] == "acme"
    assert "authorization" not in request.headers


def test_check_of_an_api_that_is_down_retries_once_where_a_read_retries_as_configured() -> None:
    with stub_server(lambda n, path, query: (503, "busy", {})) as stub:
        config = stub_config(stub.url, {"name": "items", "path": "/items"}, max_retries=4)
        with pytest.raises(SourceError, match="failed 2 times"):
            SOURCE.check(config)
        assert len(stub.requests) == 2  # the check: one attempt and one retry
        with pytest.raises(SourceError, match="failed 5 times"):
            collect(SOURCE.read(config, catalog("items"), {}))
    assert len(stub.requests) == 2 + 5  # the read: one attempt and max_retries=4


def test_incremental_sends_the_cursor_minus_the_lookback() -> None:
    with stub_server(lambda n, path, query: (200, {"data": ROWS[3:]}, {})) as stub:
        stream = {
            "name": "items",
            "path": "/items",
            "records_path": "data",
            "incremental": {"cursor_param": "since"},
        }
        state = {"items": {"cursor_field": "updated_at", "cursor": "2026-01-04T00:00:00Z"}}
        read = collect(
            SOURCE.read(stub_config(stub.url, stream), catalog("items", incremental=True), state)
        )["items"]
    assert stub.requests[0].query == {"since": "2026-01-03T23:59:59Z"}
    # not sorted by cursor: the cursor moves only at the end
    assert read.checkpoints == [{"cursor_field": "updated_at", "cursor": "2026-01-07T00:00:00Z"}]


def test_incremental_without_cursor_param_is_an_error() -> None:
    config = stub_config("http://127.0.0.1:9", {"name": "items", "path": "/items"})
    with pytest.raises(SourceError, match=r"needs `incremental\.cursor_param`"):
        collect(SOURCE.read(config, catalog("items", incremental=True), {}))


def test_config_is_validated() -> None:
    good = {"base_url": "http://api", "streams": [{"name": "a", "path": "/a"}]}
    SOURCE.parse_config(good)
    for bad in (
        {**good, "base_url": "api.example.com"},
        {**good, "surprise": 1},
        {**good, "auth": {"type": "oauth"}},
        {
            **good,
            "streams": [{"name": "a", "path": "/a", "pagination": {"type": "page", "sise": 5}}],
        },
        {**good, "streams": [{"name": "a", "path": "/a"}, {"name": "a", "path": "/b"}]},
    ):
        with pytest.raises(ValidationError):
            SOURCE.parse_config(bad)


def test_display_url_masks_secrets() -> None:
    url = "https://user:pw@api.example.com/v1/x?api_key=k&access_token=t&page=2"
    assert display_url(url) == "https://api.example.com/v1/x?api_key=***&access_token=***&page=2"
    assert display_url(url, target_only=True) == "/v1/x?api_key=***&access_token=***&page=2"


# -- the command line -----------------------------------------------------------------------
def connector(*args: str) -> list[AirbyteMessage]:
    result = subprocess.run(
        [sys.executable, "-m", "ingestion.sources.http_api", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return [AirbyteMessage.model_validate_json(line) for line in result.stdout.splitlines()]


def test_cli_spec_and_read(crm: CrmApiServer, tmp_path: Path) -> None:
    [spec] = connector("spec")
    assert spec.type == Type.SPEC
    schema = spec.spec.connectionSpecification
    assert {"base_url", "auth", "streams", "timeout_seconds"} <= set(schema["properties"])
    assert schema["$defs"]["BearerAuth"]["properties"]["token"]["airbyte_secret"] is True

    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "base_url": crm.url,
                "auth": {"type": "bearer", "token": TOKEN},
                "streams": [crm_stream("deals")],
            }
        )
    )
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(catalog("deals", incremental=True).model_dump_json())
    messages = connector("read", "--config", str(config), "--catalog", str(catalog_file))
    records = [m.record for m in messages if m.type == Type.RECORD]
    states = [m.state for m in messages if m.type == Type.STATE]
    assert len(records) == 200 and {r.stream for r in records} == {"deals"}
    assert sorted(r.data["deal_id"] for r in records) == list(range(1, 201))
    assert states[-1].stream.stream_state.cursor == max(r.data["updated_at"] for r in records)
    assert any(m.type == Type.LOG and "200 rows" in m.log.message for m in messages)


def test_a_cut_off_page_among_429_500_and_timeouts_is_retried_until_whole() -> None:
    answers: list[Any] = [
        (429, {"message": "slow down"}, {"Retry-After": "0"}),
        (200, b'{"items": [{"id": 1}, ', {}),
        HANG,
        (500, {"error": "boom"}, {}),
        (200, b"<html>proxy error</html>", {}),
        (200, {"items": ROWS}, {}),
    ]
    with stub_server(lambda n, path, query: answers[n - 1]) as stub:
        stream = {"name": "items", "path": "/items", "records_path": "items"}
        config = stub_config(stub.url, stream, timeout_seconds=0.2, max_retries=5)
        read = collect(SOURCE.read(config, catalog("items"), {}))["items"]
    assert read.records["id"].to_pylist() == [1, 2, 3, 4, 5, 6, 7]
    assert read.rejected == [] and read.totals == [7]
    assert len(stub.requests) == 6
