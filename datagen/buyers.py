"""How many orders each customer places over the year: most buy once, a minority come back,
and a long tail of loyal customers buys often.

Every customer places at least one order (the account is opened at the first checkout).
REPEAT_SHARE of them place two or more; the orders beyond those are spread over the repeat
customers in proportion to a lognormal loyalty (sigma LOYALTY_SIGMA): the long tail.
"""

from __future__ import annotations

import numpy as np

REPEAT_SHARE = 0.33
LOYALTY_SIGMA = 1.0


def orders_per_customer(rng: np.random.Generator, n_customers: int, n_orders: int) -> np.ndarray:
    """The number of orders of each customer: at least one each, `n_orders` in total."""
    if not 0 < n_customers <= n_orders:
        raise ValueError(
            f"every customer places an order: need 0 < customers <= orders, "
            f"got {n_customers} customers for {n_orders} orders"
        )
    beyond_first = n_orders - n_customers
    n_repeat = min(round(REPEAT_SHARE * n_customers), beyond_first)
    counts = np.ones(n_customers, np.int64)
    if n_repeat == 0:
        return counts
    repeaters = rng.permutation(n_customers)[:n_repeat]
    loyalty = rng.lognormal(0.0, LOYALTY_SIGMA, n_repeat)
    counts[repeaters] += 1 + rng.multinomial(beyond_first - n_repeat, loyalty / loyalty.sum())
    return counts
