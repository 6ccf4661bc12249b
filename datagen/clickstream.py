"""Clickstream events as daily JSON-lines drops, with bots, test traffic and bad lines.

Sessions are generated whole (a visitor, a start time, a run of events a few
minutes apart) so that sessionization downstream has real structure to find. Sessions
start on the same demand curve as orders (growth, weekdays, promotion days, evening peak:
datagen/seasonality.py).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datagen.seasonality import PERIOD_SECONDS, random_moments
from datagen.volumes import PERIOD_START

EVENT_TYPES = np.array(["page_view", "product_view", "add_to_cart", "checkout_started", "purchase"])
# chance that a session's next event moves one step down the funnel
FUNNEL_STEP_P = 0.45
PAGES = np.array(["/", "/search", "/category", "/deals", "/help", "/account"])
BROWSER_AGENTS = np.array(
    [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/130.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148",
        "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Firefox/132.0",
    ]
)
BOT_AGENTS = np.array(
    ["Googlebot/2.1 (+http://www.google.com/bot.html)", "AhrefsBot/7.0", "python-requests/2.32"]
)
BOT_SESSION_RATE = 0.03
TEST_SESSION_RATE = 0.01
ANONYMOUS_SESSION_RATE = 0.4
MALFORMED_LINE_RATE = 0.001
SESSION_MEAN_EVENTS = 5


def _decoded(values: np.ndarray, codes: np.ndarray) -> pa.Array:
    """values[codes] as an Arrow string array, built from a dictionary: numpy's fixed-width
    unicode would take 4 bytes per character of the longest value for every row (8 GB for
    the user agents alone at scale 10)."""
    indices = pa.array(np.asarray(codes, dtype=np.int32))
    return pa.DictionaryArray.from_arrays(indices, pa.array(values)).cast(pa.string())


def _prefixed(prefix: str, numbers: np.ndarray) -> pa.Array:
    """`prefix` + each number, built in Arrow (numpy's string ops are per-element Python)."""
    return pc.binary_join_element_wise(prefix, pa.array(numbers).cast(pa.string()), "")


def generate_events(
    n_events: int,
    n_customers: int,
    n_products: int,
    countries: np.ndarray,
    seed: int,
    country_weights: np.ndarray | None = None,
) -> pa.Table:
    """About `n_events` events grouped into sessions, sorted by time; each session's country
    drawn with `country_weights` (uniform when None)."""
    rng = np.random.default_rng(seed + 1)
    n_sessions = max(1, n_events // SESSION_MEAN_EVENTS)
    lengths = rng.integers(1, 2 * SESSION_MEAN_EVENTS, n_sessions)
    session_idx = np.repeat(np.arange(n_sessions), lengths)
    n = len(session_idx)
    # a session lasts at most 90 minutes: those starting at the very end start earlier
    starts = random_moments(rng, n_sessions)
    starts = np.where(starts > PERIOD_SECONDS - 5_400, starts - 5_400, starts)
    # position of each event within its session, then gaps of 5 s .. 10 min between events
    first_of_session = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    position = np.arange(n) - np.repeat(first_of_session, lengths)
    gaps = np.where(position == 0, 0, rng.integers(5, 600, n))
    offsets = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[first_of_session], lengths)
    seconds = starts[session_idx] + offsets

    # funnel depth: how far each session gets, and each event's step capped by it
    depth = np.minimum(rng.geometric(1 - FUNNEL_STEP_P, n_sessions) - 1, len(EVENT_TYPES) - 1)
    step = np.minimum(position, depth[session_idx])

    is_bot = rng.random(n_sessions) < BOT_SESSION_RATE
    is_test = rng.random(n_sessions) < TEST_SESSION_RATE
    anonymous = rng.random(n_sessions) < ANONYMOUS_SESSION_RATE
    customer = rng.integers(1, n_customers + 1, n_sessions)
    # codes into BROWSER_AGENTS followed by BOT_AGENTS (drawn in the order they always were)
    bot_agent = rng.integers(0, len(BOT_AGENTS), n_sessions) + len(BROWSER_AGENTS)
    browser_agent = rng.integers(0, len(BROWSER_AGENTS), n_sessions)
    user_agent = np.where(is_bot, bot_agent, browser_agent)
    product = rng.integers(1, n_products + 1, n)
    has_product = step >= 1
    micros = (seconds + int(PERIOD_START.timestamp())) * 1_000_000
    if country_weights is None:
        session_country = rng.integers(0, len(countries), n_sessions)
    else:
        session_country = rng.choice(len(countries), n_sessions, p=country_weights)
    user_id = pa.array(customer[session_idx], pa.int64(), mask=(anonymous | is_bot)[session_idx])
    table = pa.table(
        {
            "event_id": _prefixed("evt_", np.arange(1, n + 1)),
            "occurred_at": pa.array(micros, pa.timestamp("us", tz="UTC")),
            "event_type": _decoded(EVENT_TYPES, step),
            "user_id": user_id,
            "anonymous_id": _prefixed("anon_", session_idx),
            "page_path": pc.if_else(
                pa.array(has_product),
                _prefixed("/products/", product),
                _decoded(PAGES, rng.integers(0, len(PAGES), n)),
            ),
            "product_id": pa.array(product, pa.int64(), mask=~has_product),
            "country_code": _decoded(countries, session_country[session_idx]),
            "user_agent": _decoded(
                np.concatenate([BROWSER_AGENTS, BOT_AGENTS]), user_agent[session_idx]
            ),
            "environment": _decoded(np.array(["production", "test"]), is_test[session_idx]),
        }
    )
    return table.sort_by("occurred_at")


def write_daily_drops(events: pa.Table, folder: Path, seed: int) -> list[Path]:
    """Write one `events-YYYY-MM-DD.jsonl` per day; a few lines are cut short (malformed).

    One day at a time, so memory stays at one day's text whatever the scale (the whole
    period's JSON is ~10 GB at scale 10, and more than 2 GB of it overflows Arrow's 32-bit
    string offsets).
    """
    folder.mkdir(parents=True, exist_ok=True)
    if (
        events.num_rows
        and not pc.all(
            pc.greater_equal(events["occurred_at"][1:], events["occurred_at"][:-1])
        ).as_py()
    ):
        events = events.sort_by("occurred_at")  # generate_events sorts already: no copy then
    micros = events["occurred_at"].cast(pa.int64()).to_numpy()
    day_number = micros // (86_400 * 1_000_000)
    starts = np.flatnonzero(np.r_[True, day_number[1:] != day_number[:-1]])
    ends = np.r_[starts[1:], len(day_number)]
    malformed = np.random.default_rng(seed + 2).random(events.num_rows) < MALFORMED_LINE_RATE
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    paths = []
    try:
        for start, end in zip(starts, ends, strict=True):
            day_events = events.slice(start, end - start)  # noqa: F841 (read by DuckDB below)
            lines = con.sql(
                """
                select to_json(struct_pack(
                           event_id, occurred_at := strftime(occurred_at at time zone 'UTC',
                                                             '%Y-%m-%dT%H:%M:%S.%gZ'),
                           event_type, user_id, anonymous_id, page_path, product_id,
                           country_code, user_agent, environment))::varchar as line
                from day_events
                order by occurred_at, event_id
                """
            ).to_arrow_table()["line"]
            cut = pc.utf8_slice_codeunits(lines, 0, 40)
            day_lines = pc.if_else(pa.array(malformed[start:end]), cut, lines).combine_chunks()
            one_list = pa.ListArray.from_arrays(
                pa.array([0, len(day_lines)], pa.int32()), day_lines
            )
            text = pc.binary_join(one_list, "\n")[0]
            day = np.datetime64(int(day_number[start]), "D").item().isoformat()
            path = folder / f"events-{day}.jsonl"
            path.write_bytes(text.as_buffer().to_pybytes() + b"\n")
            paths.append(path)
    finally:
        con.close()
    return paths
