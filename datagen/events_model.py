"""Live events of the marketplace, in batches, as JSON message values keyed by customer.

The entities are the generated shop's (datagen.marketplace, same scale and seed): a sale
names a real customer (and their country as the region), a real product with its
merchant's currency and price, and an order id above the shop's last one. Clickstream
events follow the customers' sessions. Each value is about 200 bytes of JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from datagen.clickstream import EVENT_TYPES, PAGES
from datagen.marketplace import generate_shop
from datagen.volumes import Volumes


@dataclass
class Entities:
    customer_ids: np.ndarray
    customer_regions: np.ndarray
    product_ids: np.ndarray
    product_merchants: np.ndarray
    product_prices: np.ndarray
    product_currencies: np.ndarray
    next_order_id: int

    @classmethod
    def of_shop(cls, scale: float, seed: int) -> Entities:
        shop = generate_shop(Volumes.for_scale(scale), seed)
        customers, products = shop["customers"], shop["products"]
        return cls(
            customers.column("customer_id").to_numpy(),
            np.array(customers.column("country_code").to_pylist(), dtype=object),
            products.column("product_id").to_numpy(),
            products.column("merchant_id").to_numpy(),
            products.column("price_cents").to_numpy(),
            np.array(products.column("currency").to_pylist(), dtype=object),
            int(shop["orders"].column("order_id").to_numpy().max()) + 1,
        )


SALE = (
    '{"event_id":"%s","event_type":"sale","occurred_at":"%s","order_id":%d,"customer_id":%d,'
    '"product_id":%d,"merchant_id":%d,"quantity":%d,"amount_cents":%d,"currency":"%s",'
    '"region":"%s"}'
)
CLICK = (
    '{"event_id":"%s","event_type":"%s","occurred_at":"%s","customer_id":%d,'
    '"session_id":"s%d-%s","page":"%s","product_id":%d,"region":"%s"}'
)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventMaker:
    """Batches of (key, value) pairs; `bad_rate`: a share of values that are not JSON."""

    def __init__(self, entities: Entities, seed: int, bad_rate: float = 0.0):
        self.entities, self.bad_rate = entities, bad_rate
        self.rng = np.random.default_rng(seed)
        self.order_id = entities.next_order_id
        self.run, self.counter = f"{int(self.rng.integers(0, 1 << 48)):012x}", 0

    def _event_ids(self, n: int) -> list[str]:
        first = self.counter
        self.counter += n
        return [f"{self.run}-{i}" for i in range(first, first + n)]

    def sales(self, n: int) -> list[tuple[bytes, bytes]]:
        e, rng = self.entities, self.rng
        who = rng.integers(0, len(e.customer_ids), n)
        what = rng.integers(0, len(e.product_ids), n)
        quantity = rng.integers(1, 4, n)
        orders = range(self.order_id, self.order_id + n)
        self.order_id += n
        at = _now_iso()
        customers = e.customer_ids[who].tolist()
        # JSON written by a template: the values are ids, numbers and known codes
        values = [
            SALE % (event, at, order, customer, product, merchant, q, price * q, currency, region)
            for event, order, customer, product, merchant, q, price, currency, region in zip(
                self._event_ids(n),
                orders,
                customers,
                e.product_ids[what].tolist(),
                e.product_merchants[what].tolist(),
                quantity.tolist(),
                e.product_prices[what].tolist(),
                e.product_currencies[what].tolist(),
                e.customer_regions[who].tolist(),
                strict=True,
            )
        ]
        return self._spoil(
            [(str(c).encode(), v.encode()) for c, v in zip(customers, values, strict=True)]
        )

    def clicks(self, n: int) -> list[tuple[bytes, bytes]]:
        e, rng = self.entities, self.rng
        who = rng.integers(0, len(e.customer_ids), n)
        kinds = EVENT_TYPES[rng.integers(0, len(EVENT_TYPES), n)].tolist()
        pages = PAGES[rng.integers(0, len(PAGES), n)].tolist()
        what = rng.integers(0, len(e.product_ids), n)
        at = _now_iso()
        customers = e.customer_ids[who].tolist()
        values = [
            CLICK % (event, kind, at, customer, customer, at[:13], page, product, region)
            for event, kind, customer, page, product, region in zip(
                self._event_ids(n),
                kinds,
                customers,
                pages,
                e.product_ids[what].tolist(),
                e.customer_regions[who].tolist(),
                strict=True,
            )
        ]
        return self._spoil(
            [(str(c).encode(), v.encode()) for c, v in zip(customers, values, strict=True)]
        )

    def _spoil(self, out: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        if self.bad_rate:
            for i in np.flatnonzero(self.rng.random(len(out)) < self.bad_rate):
                out[i] = (out[i][0], out[i][1][: len(out[i][1]) // 2])  # cut short
        return out


__all__ = ["Entities", "EventMaker"]
