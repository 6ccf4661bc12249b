"""HTTP GET for the REST source: retries, backoff, and errors that say what to fix.

One job: send a GET and return a 2xx response with its JSON body, or raise a `SourceError`
naming the stream, the URL (secrets masked) and the last answer.

- 429 (and 503) honour `Retry-After`, in seconds or as an HTTP date, capped at
  `backoff_max`; without the header they back off like the other retryable failures.
- 5xx, connection errors, timeouts and dropped connections retry with exponential backoff
  (tenacity): `backoff_initial * 2**(attempt - 1)`, capped at `backoff_max`, at most
  `max_retries` times after the first attempt.
- A 2xx whose body is not JSON (cut off mid-page, an HTML error page from a proxy) is
  retried the same way: it is a transient failure more often than not. When
  the retries are spent, the error names the URL, the page and the parse error.
- Any other 4xx fails at once with the message from the body (401: the token is wrong or
  missing). Redirects are not followed: a custom auth header would go along to wherever
  the redirect points.

Credentials travel in headers and are never logged; query parameters whose names look
secret (api_key, token, signature...) are masked in messages and DLQ locations.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import tenacity

from common.redaction import MASK, is_secret_name
from ingestion.protocol import SourceError, SourceUnavailableError

log = logging.getLogger(__name__)

# failures worth another attempt: the server may answer next time
RETRYABLE_ERRORS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.ProxyError,
)
_MAX_MESSAGE = 300


class HttpApiError(SourceError):
    """The API cannot be reached, refused the request or answered something unusable."""


class HttpApiUnavailableError(HttpApiError, SourceUnavailableError):
    """The API kept failing (5xx, 429, timeouts, unparsable bodies) through every retry."""


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    backoff_initial: float = 0.5
    backoff_max: float = 30.0


def display_url(url: httpx.URL | str, *, target_only: bool = False) -> str:
    """The URL for messages and logs: no user info, secret-looking query values masked.
    `target_only`: just the path and query (`/v1/contacts?page=2`)."""
    url = httpx.URL(str(url))
    pairs = [(k, MASK if is_secret_name(k) else v) for k, v in url.params.multi_items()]
    target = url.path + (f"?{urlencode(pairs, safe=':*/,')}" if pairs else "")
    if target_only:
        return target
    return f"{url.scheme}://{url.netloc.decode('ascii')}{target}"


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None when
    absent or unreadable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def body_message(response: httpx.Response) -> str:
    """What the API says went wrong: the usual message keys of a JSON error body, else the
    start of the body text."""
    text = response.text.strip()
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "error_description", "detail", "error", "errors", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:_MAX_MESSAGE]
            if isinstance(value, dict | list) and value:
                return json.dumps(value)[:_MAX_MESSAGE]
    return text[:_MAX_MESSAGE] or "(empty body)"


class _Retryable(Exception):
    """A response worth retrying (429, 5xx), with the wait the server asked for."""

    def __init__(self, answer: str, retry_after: float | None):
        super().__init__(answer)
        self.answer = answer
        self.retry_after = retry_after


class _Unparsable(_Retryable):
    """A 2xx answer whose body is not JSON."""


def _refusal(stream: str, shown: str, response: httpx.Response) -> HttpApiError:
    status, message = response.status_code, body_message(response)
    head = f"{stream}: {shown} was refused ({status} {response.reason_phrase})"
    if status == 401:
        return HttpApiError(
            f"{head}: the token is wrong or missing; check `auth` in the connection's config "
            f"(the API says: {message})"
        )
    if status == 403:
        return HttpApiError(
            f"{head}: the credentials have no access to this resource (the API says: {message})"
        )
    if status == 404:
        return HttpApiError(
            f"{head}: check base_url and the stream's path (the API says: {message})"
        )
    return HttpApiError(f"{head}: {message}")


class HttpClient:
    """A keep-alive HTTP client for one API: GET with retries, as a context manager."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        timeout_seconds: float,
        policy: RetryPolicy,
    ):
        self.policy = policy
        self.timeout_seconds = timeout_seconds
        self._client = httpx.Client(
            base_url=base_url,
            headers={"Accept": "application/json", "User-Agent": "lakehouse-http-api/1", **headers},
            timeout=timeout_seconds,
            follow_redirects=False,
        )
        self._backoff = tenacity.wait_exponential(
            multiplier=policy.backoff_initial, max=policy.backoff_max
        )

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get_json(
        self, path: str, params: Mapping[str, Any], *, stream: str, what: str
    ) -> tuple[httpx.Response, Any]:
        """The 2xx response to GET path?params and its parsed JSON body (None when empty),
        after retries; HttpApiError otherwise. `what` names the request in errors (`page 3`)."""
        try:
            request = self._client.build_request("GET", path, params=dict(params))
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise HttpApiError(f"{stream}: invalid URL for path {path!r}: {exc}") from None
        shown = f"GET {display_url(request.url)}"
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type((_Retryable, *RETRYABLE_ERRORS)),
            stop=tenacity.stop_after_attempt(self.policy.max_retries + 1),
            wait=self._wait,
            before_sleep=lambda state: self._log_retry(state, stream, shown),
            reraise=True,
        )
        attempts = self.policy.max_retries + 1
        try:
            return retrying(self._send, request, stream, shown)
        except _Unparsable as exc:
            raise HttpApiUnavailableError(
                f"{stream}: {shown} ({what}) answered {attempts} times with a body that is "
                f"not JSON; last: {exc.answer}. The API cuts off or garbles its pages: try "
                "later, or raise max_retries",
                stream,
            ) from None
        except _Retryable as exc:
            raise HttpApiUnavailableError(
                f"{stream}: {shown} failed {attempts} times; last answer: {exc.answer}. "
                "The API is down or throttling: try later, or raise max_retries or "
                "backoff_max_seconds",
                stream,
            ) from None
        except httpx.TimeoutException as exc:
            raise HttpApiUnavailableError(
                f"{stream}: {shown} failed {attempts} times; last error: no answer within "
                f"timeout_seconds={self.timeout_seconds:g} ({type(exc).__name__}). The API "
                "is down or slow: try later, or raise timeout_seconds",
                stream,
            ) from None
        except httpx.TransportError as exc:
            raise HttpApiUnavailableError(
                f"{stream}: {shown} failed {attempts} times; last error: {type(exc).__name__}: "
                f"{exc or 'connection failed'}. Check base_url and that the API is reachable",
                stream,
            ) from None

    def _send(self, request: httpx.Request, stream: str, shown: str) -> tuple[httpx.Response, Any]:
        response = self._client.send(request)
        status = response.status_code
        if status == 429 or status >= 500:
            answer = f"{status} {response.reason_phrase}: {body_message(response)}"
            wait = None
            if status in (429, 503):
                wait = retry_after_seconds(response.headers.get("Retry-After"))
            response.close()
            raise _Retryable(answer, wait)
        if status >= 400:
            raise _refusal(stream, shown, response)
        if status >= 300:
            location = display_url(response.headers.get("Location", "(no Location)"))
            raise HttpApiError(
                f"{stream}: {shown} redirects ({status}) to {location}; redirects are not "
                "followed (the credentials would go along): set base_url to the final address"
            )
        if status == 204 or not response.content.strip():
            return response, None
        try:
            return response, json.loads(response.content)
        except ValueError as exc:
            size = len(response.content)
            raise _Unparsable(f"{status} with {size} bytes: {exc}", None) from None

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, self.policy.backoff_max)
        return self._backoff(state)

    def _log_retry(self, state: tenacity.RetryCallState, stream: str, shown: str) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable):
            what = exc.answer
            if exc.retry_after is not None:
                what += f" (Retry-After {exc.retry_after:g} s)"
        else:
            what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s: %s: %s; retry %d of %d in %.2f s",
            stream,
            shown,
            what,
            state.attempt_number,
            self.policy.max_retries,
            wait,
        )


__all__ = [
    "RETRYABLE_ERRORS",
    "HttpApiError",
    "HttpApiUnavailableError",
    "HttpClient",
    "RetryPolicy",
    "body_message",
    "display_url",
    "retry_after_seconds",
]
