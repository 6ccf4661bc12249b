"""Credentials out of DSNs and URLs, wherever they appear in a text.

One function for the whole project: messages, logs and printed settings pass through
`redact`. It rewrites only what the structure of a URL or a libpq key=value DSN says is a
credential (the password of `scheme://user:password@host`, and query or keyword values whose
name says password, token, secret or key); the rest of the text is left as it was, so a
password that also occurs elsewhere in a message does not mangle that text.
"""

from __future__ import annotations

import re

MASK = "***"

# scheme://... up to whitespace or a quote (URLs in messages are often quoted)
_URL = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<rest>[^\s'\"<>`]+)")
# name=value pairs of a query string (after ? or &, or ; as some drivers use)
_QUERY_PAIR = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&#;?]+)=(?P<value>[^&#;]*)")
# libpq's keyword form: host=db password=secret (the value may be single-quoted)
_KEYWORD_PAIR = re.compile(
    r"(?<![\w.?&;-])(?P<name>[A-Za-z_]+)\s*=\s*(?P<value>'(?:\\.|[^'\\])*'|[^\s'\"]+)"
)
_SECRET_WORDS = (
    "passw",
    "pwd",
    "secret",
    "token",
    "key",
    "auth",
    "credential",
    "session",
    "signature",
)


def redact(text: str) -> str:
    """`text` with the credentials of every DSN and URL in it replaced by ***."""
    if not text:
        return text
    text = _URL.sub(lambda m: m["scheme"] + _redact_url_rest(m["rest"]), text)
    return _KEYWORD_PAIR.sub(_mask_pair, text)


def is_secret_name(name: str) -> bool:
    """Whether a parameter of this name carries a credential (password=, api_key=, ...)."""
    name = name.strip().lower()
    return any(word in name for word in _SECRET_WORDS) or name == "sig"


def _redact_url_rest(rest: str) -> str:
    """What follows `scheme://`: the userinfo's password and secret query values masked."""
    at = _userinfo_end(rest)
    if at >= 0:
        user, colon, _password = rest[:at].partition(":")
        if colon:
            rest = f"{user}:{MASK}{rest[at:]}"
            at = len(user) + 1 + len(MASK)
    query = rest.find("?", at + 1)
    if query < 0:
        return rest
    return rest[:query] + _QUERY_PAIR.sub(_mask_query_pair, rest[query:])


def _userinfo_end(rest: str) -> int:
    """Index of the `@` ending the userinfo, or -1.

    The userinfo is what precedes the last `@` before the query string; a password with a
    raw `?` or `#` has no `@` before them, and then the last `@` of all is taken (masking
    too much rather than leaking a password)."""
    head = re.split(r"[?#]", rest, maxsplit=1)[0]
    at = head.rfind("@")
    return at if at >= 0 else rest.rfind("@")


def _mask_query_pair(match: re.Match[str]) -> str:
    if not is_secret_name(match["name"]):
        return match[0]
    return f"{match['lead']}{match['name']}={MASK}"


def _mask_pair(match: re.Match[str]) -> str:
    if not is_secret_name(match["name"]):
        return match[0]
    return f"{match['name']}={MASK}"


def error_line(exc: BaseException | str, limit: int = 300) -> str:
    """The first line of an error's message (drivers and cloud SDKs nest long texts), without
    credentials: what a user-facing error may quote of an exception."""
    text = str(exc).strip()
    return redact((text.splitlines()[0] if text else type(exc).__name__)[:limit])
