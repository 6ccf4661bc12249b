"""CRM REST API on loopback: the demo's SaaS-style source.

Serves the tables from :func:`datagen.crm.generate_crm` the way a typical CRM vendor does:
bearer-token auth, page-numbered pagination in ``(updated_at, id)`` order so an incremental
client can resume from its cursor with ``updated_since``, and one token-bucket rate limit
shared by all clients that answers 429 with ``Retry-After``. Standard library HTTP only, so
it starts in milliseconds inside tests.

Endpoints:

- ``GET /health``: ``{"status": "ok"}``, no auth, not rate limited.
- ``GET /v1/{contacts|deals}?page=1&per_page=100&updated_since=<ISO-8601>``:
  ``{"data": [...], "page": 1, "per_page": 100, "total": T, "next_page": 2 | null}``;
  ``total`` counts the rows matching ``updated_since`` (strictly newer), ``per_page`` <= 500.

Errors are JSON ``{"error": <code>, "message": <text>}`` (400 also names the ``parameter``).

Fault injection, for tests of clients: ``faults`` is a queue of failures served one per
``/v1`` request, in order, before normal answers resume: ``"truncate"`` (a 200 whose JSON
body is cut in half, with a Content-Length that matches the cut body, as a proxy that drops
the end of a response would send), ``"error"`` (500) and ``None`` (answer normally).

Run it::

    CRM_API_TOKEN=secret python -m datagen.crm_api --scale 0.01 --seed 42 --port 8765
    curl -H "Authorization: Bearer secret" "http://127.0.0.1:8765/v1/contacts?per_page=2"
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datagen.crm import generate_crm
from datagen.volumes import Volumes

logger = logging.getLogger(__name__)

TOKEN_ENV_VAR = "CRM_API_TOKEN"
MAX_PER_PAGE = 500
DEFAULT_PER_PAGE = 100
# Primary key of each resource: the tie-breaker of the (updated_at, id) order.
RESOURCE_IDS: dict[str, str] = {"contacts": "contact_id", "deals": "deal_id"}
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class TokenBucket:
    """Thread-safe token bucket: ``burst`` requests at once, refilled at ``rate`` per second."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0:
            raise ValueError(f"requests_per_second must be > 0, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._refilled_at = clock()
        self._lock = threading.Lock()

    def try_acquire(self) -> float:
        """Take a token: 0.0 if granted, else the seconds until one will be available."""
        with self._lock:
            now = self._clock()
            elapsed = now - self._refilled_at
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
            self._refilled_at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate


class _BadRequest(Exception):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.message = message


@dataclass(frozen=True)
class _Resource:
    """A table sorted by (updated_at, id), with its cursor as epoch seconds for bisection."""

    table: pa.Table
    updated_s: np.ndarray

    @classmethod
    def from_table(cls, name: str, table: pa.Table) -> _Resource:
        id_column = RESOURCE_IDS[name]
        missing = {id_column, "updated_at"} - set(table.column_names)
        if missing:
            raise ValueError(f"table {name!r} lacks column(s) {sorted(missing)}")
        ordered = table.sort_by([("updated_at", "ascending"), (id_column, "ascending")])
        updated = pc.strptime(ordered["updated_at"], format=_TIMESTAMP_FORMAT, unit="s")
        return cls(ordered, updated.cast(pa.int64()).to_numpy())

    def page(self, page: int, per_page: int, updated_since_s: int | None) -> dict[str, Any]:
        n = self.table.num_rows
        # Rows carry whole seconds, so "updated_at > t" equals "> floor(t)": bisect on that.
        first = (
            0
            if updated_since_s is None
            else int(np.searchsorted(self.updated_s, updated_since_s, side="right"))
        )
        start = min(first + (page - 1) * per_page, n)
        end = min(start + per_page, n)
        return {
            "data": self.table.slice(start, end - start).to_pylist(),
            "page": page,
            "per_page": per_page,
            "total": n - first,
            "next_page": page + 1 if end < n else None,
        }


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Keep-alive client connections must not hold up stop(); handler threads are daemons.
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        resources: Mapping[str, _Resource],
        token: str,
        bucket: TokenBucket,
    ) -> None:
        self.resources = resources
        self.token = token.encode()
        self.bucket = bucket
        self.faults: deque[str | None] = deque()
        self.faults_lock = threading.Lock()
        super().__init__(address, _Handler)

    def next_fault(self) -> str | None:
        with self.faults_lock:
            return self.faults.popleft() if self.faults else None

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):  # client went away mid-response: not our bug
            logger.debug("client %s disconnected: %s", client_address, exc)
        else:
            logger.exception("unhandled error serving %s", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so paging clients reuse one connection
    server_version = "lakehouse-crm/1"
    timeout = 30  # drop idle keep-alive connections
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls
    server: _HTTPServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        if path == "/health":
            self._send_json(HTTPStatus.OK, {"status": "ok"})
            return
        if not path.startswith("/v1/"):
            self._send_error(HTTPStatus.NOT_FOUND, "not_found", f"no route for {path}")
            return
        # Limit before auth, so floods of bad credentials are throttled too.
        wait_s = self.server.bucket.try_acquire()
        if wait_s > 0:
            retry_after = max(1, math.ceil(wait_s))
            self._send_error(
                HTTPStatus.TOO_MANY_REQUESTS,
                "rate_limited",
                f"rate limit of {self.server.bucket.rate:g} requests/s exceeded; "
                f"retry in {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )
            return
        if not self._authorized():
            self._send_error(
                HTTPStatus.UNAUTHORIZED,
                "unauthorized",
                "missing or invalid token: send 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": 'Bearer realm="crm"'},
            )
            return
        name = path.removeprefix("/v1/")
        resource = self.server.resources.get(name)
        if resource is None:
            known = ", ".join(sorted(self.server.resources))
            self._send_error(
                HTTPStatus.NOT_FOUND, "not_found", f"unknown resource {name!r}; try one of: {known}"
            )
            return
        try:
            page, per_page, updated_since_s = _parse_query(url.query)
        except _BadRequest as exc:
            self._send_error(
                HTTPStatus.BAD_REQUEST,
                "invalid_parameter",
                exc.message,
                extra={"parameter": exc.parameter},
            )
            return
        fault = self.server.next_fault()
        if fault == "error":
            self._send_error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal", "injected fault")
            return
        body = resource.page(page, per_page, updated_since_s)
        self._send_json(HTTPStatus.OK, body, truncate=fault == "truncate")

    def _authorized(self) -> bool:
        scheme, _, credentials = self.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            credentials.strip().encode(), self.server.token
        )

    def _send_error(
        self,
        status: HTTPStatus,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self._send_json(status, {"error": code, "message": message, **(extra or {})}, headers)

    def _send_json(
        self,
        status: HTTPStatus,
        body: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
        truncate: bool = False,
    ) -> None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        if truncate:
            payload = payload[: len(payload) // 2]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def version_string(self) -> str:
        return self.server_version  # no Python version in the Server header

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.address_string(), format % args)

    def log_error(self, format: str, *args: Any) -> None:
        logger.warning("%s %s", self.address_string(), format % args)


def _parse_query(query: str) -> tuple[int, int, int | None]:
    """(page, per_page, updated_since as epoch seconds) from a query string, or _BadRequest."""
    params = {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}
    page = _positive_int(params, "page", default=1, maximum=None)
    per_page = _positive_int(params, "per_page", default=DEFAULT_PER_PAGE, maximum=MAX_PER_PAGE)
    raw = params.get("updated_since")
    return page, per_page, None if raw is None else _epoch_seconds(raw)


def _positive_int(params: Mapping[str, str], name: str, default: int, maximum: int | None) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    expected = "an integer >= 1" if maximum is None else f"an integer from 1 to {maximum}"
    if not (raw.isascii() and raw.isdigit()):
        raise _BadRequest(name, f"invalid {name}={raw!r}: expected {expected}")
    value = int(raw)
    if value < 1 or (maximum is not None and value > maximum):
        raise _BadRequest(name, f"invalid {name}={raw!r}: expected {expected}")
    return value


def _epoch_seconds(raw: str) -> int:
    # An unencoded "+00:00" offset arrives as " 00:00" (form decoding): accept it back.
    for candidate in (raw, raw.replace(" ", "+")):
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        if parsed.tzinfo is None:  # naive timestamps are UTC, like every timestamp we serve
            parsed = parsed.replace(tzinfo=UTC)
        return math.floor(parsed.timestamp())
    raise _BadRequest(
        "updated_since",
        f"invalid updated_since={raw!r}: expected an ISO-8601 timestamp "
        "such as 2026-01-31T12:00:00Z",
    )


class CrmApiServer:
    """The CRM REST API over ``tables`` on a background thread.

    Binds at construction (``port=0`` picks a free port, see :attr:`url`); ``start()`` serves
    in a daemon thread. Use as a context manager to start and stop it::

        with CrmApiServer(generate_crm(1_000, seed=42), token="secret") as api:
            httpx.get(f"{api.url}/v1/deals", headers={"Authorization": "Bearer secret"})
    """

    def __init__(
        self,
        tables: Mapping[str, pa.Table],
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        requests_per_second: float = 20.0,
        burst: int = 10,
        faults: Sequence[str | None] = (),
    ) -> None:
        if not token:
            raise ValueError(f"the CRM API token is empty: set {TOKEN_ENV_VAR} to a secret")
        unknown = set(tables) - set(RESOURCE_IDS)
        if unknown:
            raise ValueError(
                f"unknown CRM table(s) {sorted(unknown)}; expected some of {sorted(RESOURCE_IDS)}"
            )
        resources = {name: _Resource.from_table(name, table) for name, table in tables.items()}
        bucket = TokenBucket(requests_per_second, burst)
        self._httpd = _HTTPServer((host, port), resources, token, bucket)
        self.inject(faults)
        self._thread: threading.Thread | None = None
        self._closed = False

    def inject(self, faults: Sequence[str | None]) -> None:
        """Queue failures for the next ``/v1`` requests (see the module docstring)."""
        unknown = set(faults) - {"truncate", "error", None}
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(map(str, unknown))}: truncate, error")
        with self._httpd.faults_lock:
            self._httpd.faults.extend(faults)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8765``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> CrmApiServer:
        """Serve in a daemon thread; returns self."""
        if self._closed:
            raise RuntimeError("CrmApiServer was stopped; create a new one")
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"crm-api-{self._httpd.server_address[1]}",
                daemon=True,
            )
            self._thread.start()
            logger.info("CRM API listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and release the port. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()
        logger.info("CRM API on %s stopped", self.url)

    def __enter__(self) -> CrmApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """CLI: serve a generated CRM until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m datagen.crm_api",
        description=f"Serve the synthetic CRM as a REST API (token from ${TOKEN_ENV_VAR}).",
    )
    parser.add_argument(
        "--scale", type=float, default=0.01, help="the customers of the shop at this scale"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--requests-per-second", type=float, default=20.0)
    parser.add_argument("--burst", type=int, default=10)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)

    token = os.environ.get(TOKEN_ENV_VAR, "")
    if not token:
        sys.exit(f"error: {TOKEN_ENV_VAR} is not set; export the bearer token clients will send")
    if not args.scale > 0:
        parser.error(f"--scale must be a positive number, got {args.scale}")
    n_customers = Volumes.for_scale(args.scale).customers
    if args.requests_per_second <= 0 or args.burst < 1:
        parser.error("--requests-per-second must be > 0 and --burst >= 1")

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    tables = generate_crm(n_customers=n_customers, seed=args.seed)
    try:
        server = CrmApiServer(
            tables,
            token,
            host=args.host,
            port=args.port,
            requests_per_second=args.requests_per_second,
            burst=args.burst,
        )
    except OSError as exc:
        sys.exit(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    with server:
        logger.info(
            "serving %d contacts and %d deals at %s/v1/{contacts,deals} (Ctrl-C to stop)",
            tables["contacts"].num_rows,
            tables["deals"].num_rows,
            server.url,
        )
        # `docker stop` sends SIGTERM: shut down as cleanly as on Ctrl-C.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            logger.info("interrupted, shutting down")


if __name__ == "__main__":
    main()
