"""Daily FX rates (units of quote currency per 1 USD) as monthly CSV drops."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from datagen.volumes import PERIOD_DAYS, PERIOD_START

BASE_CURRENCY = "USD"
# a plausible level per currency; the series random-walk around it
START_RATES = {"EUR": 0.92, "GBP": 0.79, "BRL": 5.4, "CAD": 1.37}


def generate_rates(seed: int) -> pa.Table:
    """One row per day and quote currency across the generated period."""
    rng = np.random.default_rng(seed + 3)
    days = np.array([PERIOD_START.date() + timedelta(days=i) for i in range(PERIOD_DAYS)])
    columns: dict[str, list] = {
        "rate_date": [],
        "base_currency": [],
        "quote_currency": [],
        "rate": [],
    }
    for currency, start in START_RATES.items():
        walk = start * np.exp(np.cumsum(rng.normal(0, 0.004, PERIOD_DAYS)))
        columns["rate_date"].append(days)
        columns["base_currency"].append(np.full(PERIOD_DAYS, BASE_CURRENCY))
        columns["quote_currency"].append(np.full(PERIOD_DAYS, currency))
        columns["rate"].append(np.round(walk, 6))
    return pa.table(
        {
            "rate_date": pa.array(np.concatenate(columns["rate_date"]), pa.date32()),
            "base_currency": pa.array(np.concatenate(columns["base_currency"]), pa.string()),
            "quote_currency": pa.array(np.concatenate(columns["quote_currency"]), pa.string()),
            "rate": pa.array(np.concatenate(columns["rate"]), pa.float64()),
        }
    ).sort_by([("rate_date", "ascending"), ("quote_currency", "ascending")])


def write_monthly_drops(rates: pa.Table, folder: Path) -> list[Path]:
    """Write `rates-YYYY-MM.csv` files, one per month, as a provider would publish them."""
    folder.mkdir(parents=True, exist_ok=True)
    months = np.array([d.strftime("%Y-%m") for d in rates["rate_date"].to_pylist()])
    paths = []
    for month in sorted(set(months)):
        path = folder / f"rates-{month}.csv"
        pacsv.write_csv(rates.filter(pa.array(months == month)), path)
        paths.append(path)
    return paths
