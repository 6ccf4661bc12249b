"""Synthetic CRM: contacts and deals for the demo's REST API source.

The CRM knows a subset of the shop's customers (matched by ``customer_id``) as contacts and
tracks sales deals against them. Everything is derived from one seeded numpy generator with
vectorized draws, so a given ``(n_customers, seed)`` always yields identical tables.

Volumes per ``n_customers`` (the demo uses the shop's customers, ``400_000 * scale``):

=========  ==========================================  =================
table      rows                                        at scale 0.01
=========  ==========================================  =================
contacts   ``max(1, round(0.4 * n_customers))``         1,600
deals      ``max(1, round(0.5 * contacts))``            800
=========  ==========================================  =================

Timestamps are ISO-8601 UTC strings (``YYYY-MM-DDTHH:MM:SSZ``), as a vendor API would send
them: ``created_at`` falls between 2025-11-01 and 2026-10-31, ``updated_at >= created_at``,
and a deal is never created before its contact.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Offset from the shared --seed so the CRM stream does not mirror other generators' draws.
_SEED_OFFSET = 3_301

WINDOW_START = datetime(2025, 11, 1, tzinfo=UTC)
WINDOW_END = datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC)
_START_S = int(WINDOW_START.timestamp())
_END_S = int(WINDOW_END.timestamp())
_DAY_S = 86_400

LIFECYCLE_STAGES = ("lead", "marketing_qualified", "sales_qualified", "customer")
DEAL_STAGES = ("open", "won", "lost")
COMPANIES = (
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark Industries",
    "Wayne Enterprises",
    "Soylent",
)
_FIRST_NAMES = (
    "alice", "bob", "carol", "david", "emma", "farid", "grace", "hugo", "ines", "jamal",
    "kenji", "lena", "maria", "noah", "olga", "pedro", "quinn", "ravi", "sofia", "tom",
)  # fmt: skip
_LAST_NAMES = (
    "smith", "garcia", "nguyen", "mueller", "rossi", "kim", "okafor", "dubois", "silva",
    "cohen", "tanaka", "novak", "haddad", "jensen", "patel", "lopez", "brown", "ivanova",
)  # fmt: skip

CONTACTS_SCHEMA = pa.schema(
    [
        pa.field("contact_id", pa.int64(), nullable=False),
        pa.field("customer_id", pa.int64(), nullable=False),
        pa.field("email", pa.string(), nullable=False),
        pa.field("company", pa.string(), nullable=False),
        pa.field("lifecycle_stage", pa.string(), nullable=False),
        pa.field("created_at", pa.string(), nullable=False),
        pa.field("updated_at", pa.string(), nullable=False),
    ]
)
DEALS_SCHEMA = pa.schema(
    [
        pa.field("deal_id", pa.int64(), nullable=False),
        pa.field("contact_id", pa.int64(), nullable=False),
        pa.field("amount", pa.float64(), nullable=False),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("created_at", pa.string(), nullable=False),
        pa.field("updated_at", pa.string(), nullable=False),
    ]
)


def crm_row_counts(n_customers: int) -> dict[str, int]:
    """Rows ``generate_crm(n_customers, ...)`` produces per table."""
    if n_customers < 1:
        raise ValueError(f"n_customers must be >= 1, got {n_customers}")
    n_contacts = max(1, round(0.4 * n_customers))
    return {"contacts": n_contacts, "deals": max(1, round(0.5 * n_contacts))}


def generate_crm(n_customers: int, seed: int) -> dict[str, pa.Table]:
    """Generate the CRM tables ``{"contacts": ..., "deals": ...}`` for a shop of ``n_customers``.

    Deterministic for a given ``(n_customers, seed)``; see the module docstring for volumes.
    """
    counts = crm_row_counts(n_customers)
    rng = np.random.default_rng(seed + _SEED_OFFSET)
    contacts, contact_created_s = _contacts(rng, n_customers, counts["contacts"])
    deals = _deals(rng, contact_created_s, counts["deals"])
    return {"contacts": contacts, "deals": deals}


def _contacts(rng: np.random.Generator, n_customers: int, n: int) -> tuple[pa.Table, np.ndarray]:
    # Distinct customers: one CRM contact per matched shop customer.
    customer_id = rng.choice(n_customers, size=n, replace=False).astype(np.int64) + 1
    first = np.asarray(_FIRST_NAMES)[rng.integers(0, len(_FIRST_NAMES), n)]
    last = np.asarray(_LAST_NAMES)[rng.integers(0, len(_LAST_NAMES), n)]
    email = pc.binary_join_element_wise(
        pa.array(first),
        ".",
        pa.array(last),
        pc.cast(pa.array(customer_id), pa.string()),
        "@example.com",
        "",
    )
    company = np.asarray(COMPANIES)[rng.integers(0, len(COMPANIES), n)]
    stage = np.asarray(LIFECYCLE_STAGES)[
        rng.choice(len(LIFECYCLE_STAGES), size=n, p=[0.45, 0.25, 0.15, 0.15])
    ]
    created_s = rng.integers(_START_S, _END_S, size=n, endpoint=True)
    updated_s = _updated_after(rng, created_s, mean_days=20.0)
    table = pa.table(
        {
            "contact_id": np.arange(1, n + 1, dtype=np.int64),
            "customer_id": customer_id,
            "email": email,
            "company": company,
            "lifecycle_stage": stage,
            "created_at": _iso_utc(created_s),
            "updated_at": _iso_utc(updated_s),
        },
        schema=CONTACTS_SCHEMA,
    )
    return table, created_s


def _deals(rng: np.random.Generator, contact_created_s: np.ndarray, n: int) -> pa.Table:
    contact_id = rng.integers(1, len(contact_created_s), size=n, endpoint=True)
    # Lognormal like real deal sizes: many small, a long tail, clipped to the sales policy range.
    amount = np.round(np.clip(rng.lognormal(mean=8.6, sigma=0.9, size=n), 500.0, 50_000.0), 2)
    stage = np.asarray(DEAL_STAGES)[rng.choice(len(DEAL_STAGES), size=n, p=[0.5, 0.3, 0.2])]
    created_s = _later(rng, contact_created_s[contact_id - 1], mean_days=30.0)
    updated_s = _updated_after(rng, created_s, mean_days=10.0)
    return pa.table(
        {
            "deal_id": np.arange(1, n + 1, dtype=np.int64),
            "contact_id": contact_id.astype(np.int64),
            "amount": amount,
            "currency": pa.array(np.full(n, "USD")),
            "stage": stage,
            "created_at": _iso_utc(created_s),
            "updated_at": _iso_utc(updated_s),
        },
        schema=DEALS_SCHEMA,
    )


def _updated_after(rng: np.random.Generator, created_s: np.ndarray, mean_days: float) -> np.ndarray:
    """Last-modified times: a third never touched again, the rest edited some days later."""
    updated_s = _later(rng, created_s, mean_days)
    untouched = rng.random(len(created_s)) < 1 / 3
    updated_s[untouched] = created_s[untouched]
    return updated_s


def _later(rng: np.random.Generator, base_s: np.ndarray, mean_days: float) -> np.ndarray:
    """``base_s`` plus an exponential delay, kept inside the window (the dataset's "now")."""
    delay_s = (rng.exponential(mean_days, size=len(base_s)) * _DAY_S).astype(np.int64)
    room_s = _END_S - base_s
    # Redraw overshoots uniformly in the room left instead of clamping, so no pile-up at the end.
    over = delay_s > room_s
    delay_s[over] = (rng.random(int(over.sum())) * room_s[over]).astype(np.int64)
    return base_s + delay_s


def _iso_utc(epoch_s: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(epoch_s.astype("datetime64[s]"), unit="s", timezone="UTC")
