"""Chart data API latency for every dashboard chart: cold and warm, alone and under load.

    DATA_DIR=... .venv/bin/python bench/superset_bench.py [--users 10] [--rounds 5]

Uses the data under DATA_DIR (run `lakehouse demo --scale S` into it first, at the scale to
measure) and starts Superset on a free port (the bootstrap runs if needed), with the
production settings of `make bi` (gunicorn, SUPERSET_WORKERS workers). For every chart:

- cold: Superset's result cache bypassed (`force`), so the query runs on the serving
  catalog (DuckDB reads the Parquet snapshot);
- warm: the same request as a dashboard sends it, answered from the result cache;
- alone: one user, one request at a time; concurrent: `--users` users, each requesting
  every chart `--rounds` times at once.

Each mode logs in again (Superset's access tokens expire after 15 minutes: a slow cold
phase made the next one fail with 401). Prints p50/p95/max per mode, the slowest charts and
the errors (any status but 200, or a failed connection); targets (issue 22) at scale 1:
warm p95 at most 300 ms with 10 concurrent users, cold p95 at most 1 s, no errors.
Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from datagen.volumes import Volumes
from orchestration.bi import (
    DEFAULT_THREADS,
    default_workers,
    load_credentials,
    start_superset,
    stop_superset,
    wait_until_healthy,
)
from orchestration.settings import Settings
from serving.duckdb_catalog import catalog_path, open_served


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _client(url: str, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=120)
    body = {"username": username, "password": password, "provider": "db", "refresh": False}
    token = client.post("/api/v1/security/login", json=body).json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


Sample = tuple[str, float, str | None]  # chart, milliseconds, error


def served_scale(settings: Settings) -> str:
    """The scale of the data Superset serves, from its orders (DATAGEN_SCALE may not be the
    scale DATA_DIR was built at)."""
    with open_served(catalog_path(settings.serving_dir)) as con:
        orders = con.execute("select count(*) from analytics.fct_orders").fetchone()[0]
    return f"{orders:,} orders, scale {orders / Volumes.for_scale(1).orders:.3g}"


def _timed(client: httpx.Client, name: str, context: dict, force: bool) -> Sample:
    started = time.perf_counter()
    try:
        response = client.post("/api/v1/chart/data", json={**context, "force": force})
        error = None if response.status_code == 200 else f"{response.status_code}"
    except httpx.HTTPError as exc:
        error = type(exc).__name__
    return name, (time.perf_counter() - started) * 1000, error


def _report(label: str, samples: list[Sample]) -> dict[str, float]:
    times = [t for _, t, _ in samples]
    errors = [f"{name}: {e}" for name, _, e in samples if e]
    figures = {
        "p50": statistics.median(times),
        "p95": _percentile(times, 0.95),
        "max": max(times),
        "errors": len(errors),
    }
    print(
        f"{label:<22} n={len(times):>5}  p50={figures['p50']:7.1f} ms  "
        f"p95={figures['p95']:7.1f} ms  max={figures['max']:7.1f} ms  errors={len(errors)}"
    )
    for error in sorted(set(errors))[:5]:
        print(f"{'':<22} error {error}")
    return figures


def _slowest(samples: list[Sample], count: int = 5) -> str:
    per_chart: dict[str, list[float]] = {}
    for name, elapsed, _ in samples:
        per_chart.setdefault(name, []).append(elapsed)
    ranked = sorted(per_chart.items(), key=lambda item: -statistics.median(item[1]))
    return ", ".join(f"{n} {statistics.median(t):.0f} ms" for n, t in ranked[:count])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5, help="warm requests per chart and user")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    served = served_scale(settings)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_superset(settings, port)
    try:
        wait_until_healthy(url, process)
        credentials = load_credentials(settings)
        user = (credentials["SUPERSET_ADMIN_USERNAME"], credentials["SUPERSET_ADMIN_PASSWORD"])
        client = _client(url, *user)
        listed = client.get("/api/v1/chart/", params={"q": "(page_size:100)"}).json()["result"]
        contexts = {
            c["slice_name"]: json.loads(
                client.get(f"/api/v1/chart/{c['id']}").json()["result"]["query_context"]
            )
            for c in listed
        }
        workers = os.environ.get("SUPERSET_WORKERS") or default_workers()
        threads = os.environ.get("SUPERSET_THREADS") or DEFAULT_THREADS
        print(
            f"{len(contexts)} charts, data {settings.data_dir} ({served}), "
            f"{workers} Superset workers of {threads} threads, {os.cpu_count()} cores"
        )

        cold = [_timed(client, n, ctx, force=True) for n, ctx in contexts.items()]
        client = _client(url, *user)
        for name, ctx in contexts.items():  # fill the result cache
            _timed(client, name, ctx, force=False)
        warm_alone = [
            _timed(client, n, ctx, force=False)
            for _ in range(args.rounds)
            for n, ctx in contexts.items()
        ]

        def one_user(own: httpx.Client, force: bool) -> list[Sample]:
            return [
                _timed(own, n, ctx, force)
                for _ in range(args.rounds)
                for n, ctx in contexts.items()
            ]

        def concurrently(force: bool) -> list[Sample]:
            clients = [_client(url, *user) for _ in range(args.users)]
            with ThreadPoolExecutor(args.users) as pool:
                done = pool.map(lambda own: one_user(own, force), clients)
                return [sample for samples in done for sample in samples]

        cold_load = concurrently(force=True)
        warm_load = concurrently(force=False)
        print()
        results = {
            "cold, alone": _report("cold, alone", cold),
            "warm, alone": _report("warm, alone", warm_alone),
            "cold, concurrent": _report(f"cold, {args.users} users", cold_load),
            "warm, concurrent": _report(f"warm, {args.users} users", warm_load),
        }
        print(f"\nslowest charts, cold alone: {_slowest(cold)}")
        print(f"slowest charts, cold with {args.users} users: {_slowest(cold_load)}")
        warm_p95 = results["warm, concurrent"]["p95"]
        cold_p95 = results["cold, alone"]["p95"]
        errors = sum(int(r["errors"]) for r in results.values())
        verdict = "met" if warm_p95 <= 300 and cold_p95 <= 1000 and errors == 0 else "NOT met"
        print(
            f"target (p95 warm with {args.users} users <= 300 ms, cold p95 <= 1 s, no errors): "
            f"{verdict} at {served} (warm p95 {warm_p95:.0f} ms, cold p95 {cold_p95:.0f} ms "
            f"alone, {results['cold, concurrent']['p95']:.0f} ms with {args.users} users; "
            f"{errors} errors)"
        )
    finally:
        stop_superset(process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
