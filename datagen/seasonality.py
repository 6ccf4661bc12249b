"""When orders and visits happen: the demand of each day of the generated year and of each
hour of the day (docs/datagen.md states the figures and how to change them).

A day's expected volume is trend x weekday x promotion:

- trend: linear growth over the period, the last day GROWTH_OVER_PERIOD times the first;
- weekday: WEEKDAY_WEIGHTS, Monday first; weekends are busier, as on consumer marketplaces;
- promotion: each of PROMOTION_DAYS multiplies its day's volume by its lift.

The hour of the day follows HOUR_WEIGHTS (UTC): quiet at night, busiest in the evening.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from datagen.volumes import PERIOD_DAYS, PERIOD_START

SECONDS_PER_DAY = 86_400
PERIOD_SECONDS = PERIOD_DAYS * SECONDS_PER_DAY

GROWTH_OVER_PERIOD = 1.8
WEEKDAY_WEIGHTS = np.array([1.00, 0.97, 0.97, 0.98, 0.95, 1.12, 1.22])
# day -> (name, lift over an ordinary day)
PROMOTION_DAYS: dict[date, tuple[str, float]] = {
    date(2025, 11, 28): ("Black Friday", 4.0),
    date(2025, 12, 1): ("Cyber Monday", 3.0),
    date(2026, 7, 14): ("summer sale", 3.0),
}
HOUR_WEIGHTS = np.array(
    [0.60, 0.40, 0.30, 0.25, 0.25, 0.30, 0.50, 0.80, 1.00, 1.10, 1.15, 1.20,
     1.30, 1.25, 1.20, 1.20, 1.25, 1.35, 1.50, 1.60, 1.65, 1.55, 1.25, 0.90]
)  # fmt: skip


def promotion_day_numbers() -> dict[int, float]:
    """Day number in the period (0 = PERIOD_START) -> lift, for each promotion day."""
    numbers = {}
    for day, (name, lift) in PROMOTION_DAYS.items():
        number = (day - PERIOD_START.date()).days
        if not 0 <= number < PERIOD_DAYS:
            raise ValueError(
                f"promotion day {name!r} ({day}) is outside the generated period "
                f"({PERIOD_START.date()} and the {PERIOD_DAYS - 1} days after)"
            )
        numbers[number] = lift
    return numbers


def day_weights() -> np.ndarray:
    """The expected share of the period's volume that falls on each day (sums to 1)."""
    day = np.arange(PERIOD_DAYS)
    trend = 1 + (GROWTH_OVER_PERIOD - 1) * day / (PERIOD_DAYS - 1)
    weekday = WEEKDAY_WEIGHTS[(PERIOD_START.weekday() + day) % 7]
    lift = np.ones(PERIOD_DAYS)
    for number, day_lift in promotion_day_numbers().items():
        lift[number] = day_lift
    weights = trend * weekday * lift
    return weights / weights.sum()


def random_moments(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` moments (seconds since the period start, int64) drawn from the demand curve."""
    day = rng.choice(PERIOD_DAYS, n, p=day_weights())
    hour = rng.choice(24, n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    return day * SECONDS_PER_DAY + hour * 3_600 + rng.integers(0, 3_600, n)
