"""A REST API described in config: JSON pages as Arrow batches, incremental by a cursor.

Each stream is a GET path whose JSON body holds a list of records (`records_path`), walked
page by page (`page`, `offset` or `cursor` pagination). Records become Arrow batches of
about `batch_records` rows; nested objects and arrays are kept as JSON text. A record that
is not a JSON object, or a page without a list at `records_path`, goes to the DLQ with the
request as its location, and the read goes on. A page whose body is not JSON at all is
retried, then fails the read (its records cannot be counted, so none would reconcile).
HTTP (retries, backoff, errors) is in `http_client`.

Incremental streams send the last committed cursor in `incremental.cursor_param` and keep
`{"cursor_field", "cursor"}` (the largest cursor value seen) as state. Records that share
the last cursor value must not be lost, yet most APIs filter strictly newer (the CRM's
`updated_since` does), so a record written in the same second after a sync, or the rest
of a tie cut by an interrupted read, would never come back. The source therefore sends
the cursor minus `lookback_seconds` (default 1 s): records at the boundary are read again
and staging deduplicates them by primary key. It checkpoints at safe points only: after
each batch when the API returns records in cursor order (`sorted_by_cursor`, as the CRM
does), every record below the checkpointed cursor has been emitted; otherwise mid-stream
checkpoints keep the cursor the read started from and it advances at the stream's end.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

import pyarrow as pa
from airbyte_protocol.models import (
    AirbyteCatalog,
    AirbyteStream,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    SyncMode,
)
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from ingestion.protocol import (
    Checkpoint,
    ReadEvent,
    Records,
    Rejected,
    Rejects,
    Source,
    SourceTotals,
    cursor_of,
    is_incremental,
    json_schema_of,
)
from ingestion.sources.http_client import HttpApiError, HttpClient, RetryPolicy, display_url

log = logging.getLogger(__name__)

# a page without its records is skipped; this many in a row means the API is broken
MAX_BAD_PAGES_IN_A_ROW = 3
_SECRET = {"airbyte_secret": True}


# -- config -------------------------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BearerAuth(_Model):
    model_config = ConfigDict(extra="forbid", title="Bearer token")
    type: Literal["bearer"]
    token: SecretStr = Field(
        description="Sent as `Authorization: Bearer <token>`; use ${ENV} in the connections file",
        json_schema_extra=_SECRET,
    )


class HeaderAuth(_Model):
    model_config = ConfigDict(extra="forbid", title="API key header")
    type: Literal["header"]
    name: str = Field(description="The header that carries the key, e.g. X-API-Key", min_length=1)
    value: SecretStr = Field(
        description="The key; use ${ENV} in the connections file", json_schema_extra=_SECRET
    )


class NoAuth(_Model):
    model_config = ConfigDict(extra="forbid", title="No authentication")
    type: Literal["none"]


Auth = Annotated[BearerAuth | HeaderAuth | NoAuth, Field(discriminator="type")]


class PagePagination(_Model):
    model_config = ConfigDict(extra="forbid", title="Page number")
    type: Literal["page"]
    page_param: str = Field(default="page", description="Query parameter of the page number")
    size_param: str | None = Field(
        default="per_page", description="Query parameter of the page size (null: not sent)"
    )
    size: int = Field(
        default=100,
        gt=0,
        description="Records per page, at most the API's maximum: without next_path, a "
        "shorter page is the last one",
    )
    start: int = Field(default=1, ge=0, description="Number of the first page")
    next_path: str | None = Field(
        default=None,
        description="Dotted path to the next page in the body (e.g. next_page); the last "
        "page has it null. When set, only it (or an empty page) ends the stream",
    )


class OffsetPagination(_Model):
    model_config = ConfigDict(extra="forbid", title="Offset and limit")
    type: Literal["offset"]
    offset_param: str = Field(default="offset", description="Query parameter of the offset")
    limit_param: str = Field(default="limit", description="Query parameter of the page size")
    size: int = Field(
        default=100,
        gt=0,
        description="Records per page, at most the API's maximum: a shorter page is the last",
    )


class CursorPagination(_Model):
    model_config = ConfigDict(extra="forbid", title="Next-page cursor")
    type: Literal["cursor"]
    cursor_path: str = Field(
        description="Dotted path to the next page's cursor in the body; null on the last page"
    )
    cursor_param: str = Field(description="Query parameter that sends the cursor back")
    size_param: str | None = Field(default=None, description="Query parameter of the page size")
    size: int | None = Field(default=None, gt=0, description="Records per page (with size_param)")


class NoPagination(_Model):
    model_config = ConfigDict(extra="forbid", title="Single request")
    type: Literal["none"]


Pagination = Annotated[
    PagePagination | OffsetPagination | CursorPagination | NoPagination,
    Field(discriminator="type"),
]


class IncrementalOptions(_Model):
    cursor_param: str = Field(
        description="Query parameter that sends the last cursor value (e.g. updated_since); "
        "the record field is the stream's cursor_field"
    )
    cursor_format: Literal["iso8601", "unix_seconds", "unix_milliseconds"] = Field(
        default="iso8601", description="How the cursor field's values are written"
    )
    lookback_seconds: float = Field(
        default=1.0,
        ge=0,
        description="Send the cursor minus this much, so records sharing the last cursor "
        "value are read again (staging deduplicates them by primary key). 0 only for an "
        "API whose filter includes the value sent (>=)",
    )
    sorted_by_cursor: bool = Field(
        default=False,
        description="The API returns records in ascending cursor order: checkpoint after "
        "each batch, so an interrupted read resumes where it stopped",
    )


class HttpStreamOptions(_Model):
    name: str
    path: str = Field(description="Path of the resource, relative to base_url (e.g. /v1/deals)")
    records_path: str | None = Field(
        default=None,
        description="Dotted path to the list of records in the JSON body (e.g. data); "
        "null: the body is the list",
    )
    params: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Static query parameters sent with every request"
    )
    pagination: Pagination = Field(
        default_factory=lambda: NoPagination(type="none"), description="How to walk the pages"
    )
    incremental: IncrementalOptions | None = Field(
        default=None, description="How to ask for records newer than the cursor"
    )
    total_path: str | None = Field(
        default=None,
        description="Dotted path to the count of matching records in the first page's body "
        "(e.g. total), reported for reconciliation; else the records received are counted",
    )


class HttpApiConfig(_Model):
    base_url: str = Field(description="http(s)://host[:port][/prefix] of the API")
    auth: Auth = Field(default_factory=lambda: NoAuth(type="none"), description="Credentials")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Static headers sent with every request"
    )
    timeout_seconds: float = Field(default=30.0, gt=0, description="Per-request timeout")
    max_retries: int = Field(
        default=5, ge=0, description="Retries of a request after 429, 5xx, timeouts or errors"
    )
    backoff_initial_seconds: float = Field(
        default=0.5, ge=0, description="First wait between retries; doubles each retry"
    )
    backoff_max_seconds: float = Field(
        default=30.0, ge=0, description="Longest wait between retries (also caps Retry-After)"
    )
    batch_records: int = Field(default=10_000, gt=0, description="Records per Arrow batch")
    streams: list[HttpStreamOptions] = Field(default_factory=list)

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value

    @field_validator("streams")
    @classmethod
    def _unique_names(cls, value: list[HttpStreamOptions]) -> list[HttpStreamOptions]:
        names = [s.name for s in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"stream(s) configured twice: {', '.join(duplicates)}")
        return value

    def options(self, stream: str) -> HttpStreamOptions:
        for options in self.streams:
            if options.name == stream:
                return options
        raise HttpApiError(f"{stream}: not configured: give the stream a path in `streams`")

    def client(self, max_retries: int | None = None) -> HttpClient:
        """A client with this API's headers, timeout and retry policy (`max_retries`, when
        given, caps the configured retries)."""
        headers = dict(self.headers)
        if isinstance(self.auth, BearerAuth):
            headers["Authorization"] = f"Bearer {self.auth.token.get_secret_value()}"
        elif isinstance(self.auth, HeaderAuth):
            headers[self.auth.name] = self.auth.value.get_secret_value()
        retries = self.max_retries if max_retries is None else min(max_retries, self.max_retries)
        policy = RetryPolicy(retries, self.backoff_initial_seconds, self.backoff_max_seconds)
        return HttpClient(self.base_url, headers, self.timeout_seconds, policy)


# -- JSON bodies ----------------------------------------------------------------------------
_MISSING = object()


def dig(body: Any, path: str | None) -> Any:
    """The value at a dotted path (`data`, `meta.next`), or _MISSING."""
    if path is None:
        return body
    for key in path.split("."):
        if not isinstance(body, dict) or key not in body:
            return _MISSING
        body = body[key]
    return body


def json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Page:
    number: int  # 1-based, in this read
    location: str  # GET <path>?<query> page N
    body: Any
    items: list[Any] | None  # None: the page is unusable (see problem)
    problem: str | None = None
    raw: str = ""


def fetch_page(
    client: HttpClient, options: HttpStreamOptions, params: Mapping[str, Any], number: int
) -> tuple[Page, bytes]:
    """One page and the body's bytes (to spot an API that ignores the page parameter)."""
    response, body = client.get_json(
        options.path, params, stream=options.name, what=f"page {number}"
    )
    location = f"GET {display_url(response.request.url, target_only=True)} page {number}"
    content = response.content
    if response.status_code == 204 or not content.strip():
        return Page(number, location, None, []), content
    items = dig(body, options.records_path)
    problem = None
    if items is _MISSING:
        keys = f"keys {sorted(body)}" if isinstance(body, dict) else type(body).__name__
        problem = f"no records_path {options.records_path!r} in the body (it has {keys})"
    elif items is not None and not isinstance(items, list):
        problem = f"records_path {options.records_path!r} is a {type(items).__name__}, not a list"
    if problem:
        return Page(number, location, body, None, problem, json_text(body)), content
    return Page(number, location, body, items or []), content


def iter_pages(
    client: HttpClient,
    options: HttpStreamOptions,
    params: Mapping[str, Any],
    *,
    first_only: bool = False,
    size: int | None = None,
) -> Iterator[Page]:
    """The stream's pages in order, until the pagination says the last one was read.
    `size` overrides the page size (check asks for one record)."""
    p = options.pagination
    name = options.name
    if isinstance(p, NoPagination):
        yield fetch_page(client, options, params, 1)[0]
        return
    if isinstance(p, PagePagination):
        position: Any = p.start
        page_size = size or p.size
    elif isinstance(p, OffsetPagination):
        position, page_size = 0, size or p.size
    else:
        position, page_size = None, size or p.size
    number, bad_in_a_row, previous = 0, 0, None
    while True:
        number += 1
        query = dict(params)
        if isinstance(p, PagePagination):
            query[p.page_param] = position
            if p.size_param:
                query[p.size_param] = page_size
        elif isinstance(p, OffsetPagination):
            query[p.offset_param] = position
            query[p.limit_param] = page_size
        else:
            if position is not None:
                query[p.cursor_param] = position
            if p.size_param and page_size:
                query[p.size_param] = page_size
        page, content = fetch_page(client, options, query, number)
        yield page
        if first_only:
            return
        if page.items is None:  # unusable page: skip it when the next one can be found
            bad_in_a_row += 1
            if isinstance(p, CursorPagination):
                raise HttpApiError(
                    f"{name}: {page.location}: {page.problem}; cursor pagination cannot go "
                    "past it (the next cursor is in that body)"
                )
            if bad_in_a_row >= MAX_BAD_PAGES_IN_A_ROW:
                raise HttpApiError(
                    f"{name}: {bad_in_a_row} unusable pages in a row, the last at "
                    f"{page.location}: {page.problem}"
                )
            position += 1 if isinstance(p, PagePagination) else page_size
            continue
        bad_in_a_row = 0
        count = len(page.items)
        if count == 0:
            return
        digest = hashlib.sha1(content).digest()
        if digest == previous:
            raise HttpApiError(
                f"{name}: {page.location} has the same records as the page before: the API "
                "seems to ignore the pagination parameters; check `pagination`"
            )
        previous = digest
        if isinstance(p, PagePagination):
            if p.next_path is not None:
                if dig(page.body, p.next_path) in (None, _MISSING, False, ""):
                    return
            elif p.size_param and count < page_size:
                return
            position += 1
        elif isinstance(p, OffsetPagination):
            if count < page_size:
                return
            position += count
        else:
            following = dig(page.body, p.cursor_path)
            if following in (None, _MISSING, ""):
                return
            if following == position:
                raise HttpApiError(
                    f"{name}: {page.location} gives back the cursor it was sent; check "
                    "pagination.cursor_path"
                )
            position = following


# -- records --------------------------------------------------------------------------------
def _column(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        # mixed types (1 and "1", true and 2) or integers beyond 64 bits: keep the text
        text = [v if v is None or isinstance(v, str) else json_text(v) for v in values]
        return pa.array(text, pa.string())


def to_arrow(records: list[dict[str, Any]]) -> pa.Table:
    """Records as a table: every field seen (missing ones null), nested values as JSON."""
    names = list(dict.fromkeys(k for record in records for k in record))
    columns = {}
    for name in names:
        values = [record.get(name) for record in records]
        columns[name] = _column([json_text(v) if isinstance(v, dict | list) else v for v in values])
    return pa.table(columns)


def split_records(items: list[Any]) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """(the JSON objects, and the raw text and reason of every other item)."""
    good, raw, reasons = [], [], []
    for item in items:
        if isinstance(item, dict) and item:
            good.append(item)
        else:
            raw.append(json_text(item))
            what = "an empty object" if isinstance(item, dict) else f"a JSON {_kind(item)}"
            reasons.append(f"the record is {what}, not a JSON object with fields")
    return good, raw, reasons


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array"}.get(type(value), type(value).__name__)


# -- cursor ---------------------------------------------------------------------------------
def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def cursor_key(value: Any, cursor_format: str) -> Any:
    """A comparable form of a cursor value; None when it cannot be read."""
    return _instant(value) if cursor_format == "iso8601" else _number(value)


def cursor_request_value(stored: Any, options: IncrementalOptions) -> Any:
    """What to send in cursor_param: the stored cursor minus the lookback, written like it."""
    lookback = options.lookback_seconds
    if not lookback:
        return stored
    if options.cursor_format == "iso8601":
        text = str(stored).strip()
        if len(text) == 10:  # a date: step back whole days
            days = max(1, int(-(-lookback // 86_400)))
            return (date.fromisoformat(text) - timedelta(days=days)).isoformat()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise HttpApiError(f"the stored cursor {stored!r} is not an ISO-8601 time") from None
        earlier = (parsed - timedelta(seconds=lookback)).isoformat()
        if text.endswith(("Z", "z")):
            earlier = earlier.replace("+00:00", "Z")
        return earlier
    step = lookback * (1000 if options.cursor_format == "unix_milliseconds" else 1)
    sent = _number(stored)
    if sent is None:
        raise HttpApiError(f"the stored cursor {stored!r} is not a number")
    sent -= step
    return int(sent) if sent == int(sent) else sent


class CursorTracker:
    """The largest cursor value seen, kept as the API wrote it."""

    def __init__(self, cursor_format: str, start: Any):
        self.cursor_format = cursor_format
        self.value = start
        self._key = cursor_key(start, cursor_format) if start is not None else None

    def see(self, records: list[dict[str, Any]], field: str) -> None:
        for record in records:
            value = record.get(field)
            key = cursor_key(value, self.cursor_format) if value is not None else None
            if key is not None and (self._key is None or key > self._key):
                self.value, self._key = value, key


# -- the source -----------------------------------------------------------------------------
CHECK_RETRIES = 1


class HttpApiSource(Source[HttpApiConfig]):
    name = "http_api"
    config_model = HttpApiConfig

    def check(self, config: HttpApiConfig) -> None:
        """One page of each stream. A check answers whether the API can be reached now:
        one retry at most (a sync keeps the configured retries), so an API that is down
        fails the check in about a second, not after the whole backoff (15 s by default)."""
        if not config.streams:
            raise HttpApiError("no streams configured: give each stream a path")
        with config.client(max_retries=CHECK_RETRIES) as client:
            for options in config.streams:
                page = next(iter_pages(client, options, options.params, first_only=True, size=1))
                if page.items is None:
                    raise HttpApiError(f"{options.name}: {page.location}: {page.problem}")

    def discover(self, config: HttpApiConfig) -> AirbyteCatalog:
        streams = []
        with config.client() as client:
            for options in config.streams:
                page = next(iter_pages(client, options, options.params, first_only=True))
                if page.items is None:
                    raise HttpApiError(f"{options.name}: {page.location}: {page.problem}")
                records = split_records(page.items)[0]
                schema = to_arrow(records).schema if records else pa.schema([])
                modes = [SyncMode.full_refresh]
                if options.incremental is not None:
                    modes.append(SyncMode.incremental)
                streams.append(
                    AirbyteStream(
                        name=options.name,
                        json_schema=json_schema_of(schema),
                        supported_sync_modes=modes,
                        source_defined_cursor=False,
                    )
                )
        return AirbyteCatalog(streams=streams)

    def read(
        self,
        config: HttpApiConfig,
        catalog: ConfiguredAirbyteCatalog,
        state: Mapping[str, dict[str, Any]],
    ) -> Iterator[ReadEvent]:
        with config.client() as client:
            for stream in catalog.streams:
                name = stream.stream.name
                yield from self._read_stream(client, config, stream, state.get(name) or {})

    def _read_stream(
        self,
        client: HttpClient,
        config: HttpApiConfig,
        stream: ConfiguredAirbyteStream,
        state: dict[str, Any],
    ) -> Iterator[ReadEvent]:
        name = stream.stream.name
        options = config.options(name)
        params: dict[str, Any] = dict(options.params)
        cursor_field = cursor_of(stream) if is_incremental(stream) else None
        incremental = options.incremental
        tracker, start = None, None
        if cursor_field is not None:
            if incremental is None:
                raise HttpApiError(
                    f"{name}: incremental on {cursor_field!r} needs `incremental.cursor_param`"
                    ", the query parameter that asks for records newer than the cursor"
                )
            # a cursor of another field means nothing here: read from the start
            if state.get("cursor_field", cursor_field) == cursor_field:
                start = state.get("cursor")
            if start is not None:
                params[incremental.cursor_param] = cursor_request_value(start, incremental)
            tracker = CursorTracker(incremental.cursor_format, start)

        def checkpoint(*, final: bool) -> Checkpoint:
            if tracker is None:
                return Checkpoint(name, {})
            new = {"cursor_field": cursor_field}
            if final or (incremental is not None and incremental.sorted_by_cursor):
                value = tracker.value
            else:  # unsorted: a later page may hold an older record; keep the start cursor
                value = start
            if value is not None:
                new["cursor"] = value
            return Checkpoint(name, new)

        buffer: list[dict[str, Any]] = []
        received, pages, total = 0, 0, None
        for page in iter_pages(client, options, params):
            pages += 1
            if page.items is None:
                raw, problem = page.raw, page.problem or "unusable page"
                yield Rejected(name, Rejects([raw], [problem], page.location))
                continue
            if page.number == 1 and options.total_path is not None:
                total = _total(page.body, options.total_path, name)
            good, raw_items, reasons = split_records(page.items)
            received += len(page.items)
            if raw_items:
                yield Rejected(name, Rejects(raw_items, reasons, page.location))
            if tracker is not None and cursor_field is not None:
                tracker.see(good, cursor_field)
            buffer.extend(good)
            if len(buffer) >= config.batch_records:
                yield Records(name, to_arrow(buffer))
                buffer = []
                if tracker is not None:
                    yield checkpoint(final=False)
        if buffer:
            yield Records(name, to_arrow(buffer))
        log.info("%s: %d records in %d pages", name, received, pages)
        yield SourceTotals(name, rows=total if total is not None else received)
        yield checkpoint(final=True)


def _total(body: Any, path: str, stream: str) -> int | None:
    value = dig(body, path)
    if value is _MISSING or value is None:
        log.warning("%s: no total at total_path %r; counting the records received", stream, path)
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise HttpApiError(f"{stream}: total_path {path!r} is {value!r}, not a count") from None


__all__ = ["HttpApiConfig", "HttpApiSource", "HttpStreamOptions", "to_arrow"]

if __name__ == "__main__":
    from ingestion.airbyte_cli import run

    sys.exit(run(HttpApiSource()))
