"""Benchmark: generation time per stage at a scale (default 1 = 1,000,000 orders).

Prints the median of several runs per stage; not a test. Usage:
    .venv/bin/python bench/datagen_bench.py [--scale 1] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from datagen import clickstream, fx
from datagen.marketplace import COUNTRIES, COUNTRY_WEIGHTS, generate_shop
from datagen.oltp import write_tables
from datagen.volumes import Volumes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    volumes = Volumes.for_scale(args.scale)
    timings: dict[str, list[float]] = {}

    def timed(stage: str, fn, *fn_args):
        started = time.perf_counter()
        result = fn(*fn_args)
        timings.setdefault(stage, []).append(time.perf_counter() - started)
        return result

    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            shop = timed("shop tables (numpy)", generate_shop, volumes, 42)
            timed("write SQLite (ADBC)", write_tables, f"sqlite:///{root}/shop.db", shop)
            events = timed(
                "clickstream events",
                clickstream.generate_events,
                volumes.events, volumes.customers, volumes.products, COUNTRIES, 42, COUNTRY_WEIGHTS,
            )  # fmt: skip
            timed("clickstream JSONL drops", clickstream.write_daily_drops, events, root / "c", 42)
            timed("fx rates CSV", fx.write_monthly_drops, fx.generate_rates(42), root / "fx")
        print(f"run {run + 1}/{args.runs} done", flush=True)
    print(f"\nscale {args.scale:g}: {volumes.orders:,} orders, {volumes.events:,} events")
    total = 0.0
    for stage, seconds in timings.items():
        median = statistics.median(seconds)
        total += median
        runs = ", ".join(f"{s:.2f}" for s in seconds)
        print(f"  {stage:<26} median {median:6.2f} s  (runs: {runs})")
    print(f"  {'total (sum of medians)':<26}        {total:6.2f} s")


if __name__ == "__main__":
    main()
