"""Merchants: how much each sells, and how risky it is.

Sales follow a long tail: a merchant's share of the orders is proportional to
1 / rank ** SIZE_EXPONENT (rank 1 the biggest), ranks shuffled over merchant ids.

Risk: most merchants are sound; a minority have elevated or high refund, dispute and
payment-failure rates, the signals a risk mart tiers merchants by. Each profile takes an
exact share of the merchants (at least one each for the risky ones) chosen among all but the
biggest third, as risky sellers tend to be small ones; each merchant's rates are its
profile's times a lognormal jitter (sigma RATE_JITTER_SIGMA).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIZE_EXPONENT = 0.8
RATE_JITTER_SIGMA = 0.2


@dataclass(frozen=True)
class RiskProfile:
    name: str
    share: float  # of the merchants
    refund_rate: float  # of its orders that are not cancelled
    dispute_rate: float  # of its orders that are not cancelled (chargebacks)
    failed_attempt_rate: float  # of its orders: a declined payment attempt before the final one


RISK_PROFILES = (
    RiskProfile("standard", 0.85, refund_rate=0.04, dispute_rate=0.003, failed_attempt_rate=0.04),
    RiskProfile("elevated", 0.10, refund_rate=0.10, dispute_rate=0.025, failed_attempt_rate=0.12),
    RiskProfile("high", 0.05, refund_rate=0.18, dispute_rate=0.06, failed_attempt_rate=0.25),
)


@dataclass(frozen=True)
class Merchants:
    order_share: np.ndarray  # sums to 1
    profile: np.ndarray  # index into RISK_PROFILES
    refund_rate: np.ndarray
    dispute_rate: np.ndarray
    failed_attempt_rate: np.ndarray


def draw_merchants(rng: np.random.Generator, n: int) -> Merchants:
    """Size and risk of `n` merchants (index i is merchant id i + 1)."""
    rank = rng.permutation(n)  # 0 = the biggest
    size = 1.0 / (rank + 1.0) ** SIZE_EXPONENT
    risky_counts = [max(1, round(p.share * n)) for p in RISK_PROFILES[1:]]
    candidates = np.flatnonzero(rank >= n // 3)
    if sum(risky_counts) > len(candidates):
        raise ValueError(f"{n} merchants are too few for every risk profile: need at least 3")
    profile = np.zeros(n, np.int64)
    chosen = rng.permutation(candidates)[: sum(risky_counts)]
    profile[chosen] = np.repeat(np.arange(1, len(RISK_PROFILES)), risky_counts)

    def jittered(rate: str) -> np.ndarray:
        base = np.array([getattr(p, rate) for p in RISK_PROFILES])[profile]
        return np.minimum(base * rng.lognormal(0.0, RATE_JITTER_SIGMA, n), 0.9)

    return Merchants(
        order_share=size / size.sum(),
        profile=profile,
        refund_rate=jittered("refund_rate"),
        dispute_rate=jittered("dispute_rate"),
        failed_attempt_rate=jittered("failed_attempt_rate"),
    )
