"""Generate the whole outside world of the demo: OLTP, clickstream drops, FX drops.

A marker file records what was generated (scale, seed, targets) so that
`lakehouse demo` regenerates only when asked for something different.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from common.redaction import redact
from datagen import clickstream, fx
from datagen.marketplace import COUNTRIES, COUNTRY_WEIGHTS, generate_shop
from datagen.oltp import write_tables
from datagen.volumes import Volumes

log = logging.getLogger(__name__)
MARKER = "_generated.json"


@dataclass(frozen=True)
class GenerationRequest:
    scale: float
    seed: int
    oltp_dsn: str
    landing_dir: str


@dataclass
class GenerationResult:
    request: GenerationRequest
    rows: dict[str, int]
    files: dict[str, int]
    seconds: float


def already_generated(request: GenerationRequest) -> bool:
    """True when the landing zone's marker says exactly this request was generated."""
    marker = Path(request.landing_dir) / MARKER
    if not marker.exists():
        return False
    try:
        return json.loads(marker.read_text())["request"] == asdict(request)
    except (ValueError, KeyError):
        return False


def generate(request: GenerationRequest) -> GenerationResult:
    """Write every source dataset for the request, replacing what was there."""
    started = time.perf_counter()
    volumes = Volumes.for_scale(request.scale)
    landing = Path(request.landing_dir)
    marker = landing / MARKER
    marker.unlink(missing_ok=True)  # an interrupted run must not look complete

    shop = generate_shop(volumes, request.seed)
    log.info("writing %d OLTP tables to %s", len(shop), redact(request.oltp_dsn))
    write_tables(request.oltp_dsn, shop)
    rows = {name: table.num_rows for name, table in shop.items()}
    del shop  # gigabytes at scale 10: free them before the clickstream is generated

    events = clickstream.generate_events(
        volumes.events,
        volumes.customers,
        volumes.products,
        COUNTRIES,
        request.seed,
        COUNTRY_WEIGHTS,
    )
    shutil.rmtree(landing / "clickstream", ignore_errors=True)
    event_files = clickstream.write_daily_drops(events, landing / "clickstream", request.seed)

    rates = fx.generate_rates(request.seed)
    shutil.rmtree(landing / "fx_rates", ignore_errors=True)
    rate_files = fx.write_monthly_drops(rates, landing / "fx_rates")

    rows["clickstream_events"] = events.num_rows
    rows["fx_rates"] = rates.num_rows
    result = GenerationResult(
        request=request,
        rows=rows,
        files={"clickstream": len(event_files), "fx_rates": len(rate_files)},
        seconds=time.perf_counter() - started,
    )
    marker.write_text(json.dumps({"request": asdict(request), "rows": rows}, indent=2))
    return result
