"""Row counts per scale: one knob (`--scale`) sets the volume of every dataset.

Scale 1 is 1,000,000 orders; the other counts keep marketplace-like ratios to it. How the
rows are spread (over days, customers, merchants) is described in docs/datagen.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# The simulated business period: fixed so that a seed always yields the same data.
PERIOD_START = datetime(2025, 11, 1, tzinfo=UTC)
PERIOD_DAYS = 365
PERIOD_END = PERIOD_START + timedelta(days=PERIOD_DAYS)

# Per unit of scale. Items, payments, refunds and disputes follow from orders at the rates
# of datagen/marketplace.py and datagen/merchant_risk.py, so their counts are derived.
# 2.5 orders per customer over the year: most buy once, a minority come back (datagen/buyers.py).
CUSTOMERS_PER_SCALE = 400_000
MERCHANTS_PER_SCALE = 2_000
PRODUCTS_PER_SCALE = 20_000
ORDERS_PER_SCALE = 1_000_000
EVENTS_PER_ORDER = 3


@dataclass(frozen=True)
class Volumes:
    """How many rows of each generated entity to make."""

    customers: int
    merchants: int
    products: int
    orders: int
    events: int

    @classmethod
    def for_scale(cls, scale: float) -> Volumes:
        if not scale > 0:
            raise ValueError(f"scale must be a positive number, got {scale!r}")
        merchants = max(5, round(MERCHANTS_PER_SCALE * scale))
        return cls(
            customers=max(50, round(CUSTOMERS_PER_SCALE * scale)),
            merchants=merchants,
            # at least two products per merchant so every merchant can sell
            products=max(2 * merchants, round(PRODUCTS_PER_SCALE * scale)),
            orders=max(100, round(ORDERS_PER_SCALE * scale)),
            events=max(300, round(ORDERS_PER_SCALE * EVENTS_PER_ORDER * scale)),
        )
