"""Regenerate the dashboard pictures in docs/img/ that the README shows (`make screenshots`).

    make demo && make screenshots

Starts Superset on the data folder's serving catalog (bootstrapping it first when the bundle
changed), opens every dashboard in the system Chromium at 1280 px wide, waits until every
chart has drawn, and writes `docs/img/<slug>.png`: a palette PNG, optimized, cut at
MAX_HEIGHT pixels, under MAX_BYTES. Runs in the project's virtualenv (Playwright); the PNGs
are compressed by Pillow in Superset's (this file again, with --optimize).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
TARGET = REPO_ROOT / "docs" / "img"
WIDTH, MAX_HEIGHT = 1280, 2000
MAX_BYTES = 300_000
COLOURS = 128


def optimize(paths: list[Path]) -> None:
    """Each PNG cut at MAX_HEIGHT, as a palette of COLOURS colours, optimized (Pillow)."""
    from PIL import Image

    for path in paths:
        with Image.open(path) as image:
            cut = image.crop((0, 0, image.width, min(image.height, MAX_HEIGHT)))
            cut.convert("RGB").quantize(COLOURS).save(path, optimize=True)


def capture(target: Path) -> list[Path]:
    sys.path.insert(0, str(REPO_ROOT))
    sys.path.insert(0, str(HERE))
    from bundle_spec import DASHBOARDS

    from orchestration.bi import (
        load_credentials,
        start_superset,
        stop_superset,
        superset_executable,
        wait_until_healthy,
    )
    from orchestration.settings import Settings
    from tests.browser import (
        chromium,
        login_to_superset,
        screenshot_dashboard,
        wait_until_drawn,
    )
    from tests.superset_session import free_port

    settings = Settings.from_env()
    target.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = settings.data_dir / "logs" / "superset-screenshots.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with log_path.open("w") as log:
        print(f"starting Superset on 127.0.0.1:{port} (log: {log_path})", flush=True)
        process = start_superset(settings, port, log=log)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(url, process)
            credentials = load_credentials(settings)
            with chromium() as browser:
                context = browser.new_context(viewport={"width": WIDTH, "height": 900})
                page = context.new_page()
                login_to_superset(
                    page,
                    url,
                    credentials["SUPERSET_ADMIN_USERNAME"],
                    credentials["SUPERSET_ADMIN_PASSWORD"],
                )
                for dashboard in DASHBOARDS:  # a fresh page each: nothing left of the last
                    page = page.context.new_page()
                    page.goto(f"{url}/superset/dashboard/{dashboard.slug}/")
                    wait_until_drawn(page, len(dashboard.charts))
                    path = target / f"{dashboard.slug}.png"
                    screenshot_dashboard(page, path, len(dashboard.charts), MAX_HEIGHT)
                    written.append(path)
        finally:
            stop_superset(process)
    python = superset_executable("python")
    subprocess.run([str(python), __file__, "--optimize", *map(str, written)], check=True)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", type=Path, default=TARGET)
    parser.add_argument("--optimize", nargs="+", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.optimize:
        optimize(args.optimize)
        return 0
    too_big = []
    for path in capture(args.target):
        size = path.stat().st_size
        print(f"{path}: {size // 1000} KB")
        if size > MAX_BYTES:
            too_big.append(path.name)
    if too_big:
        print(f"error: over {MAX_BYTES // 1000} KB: {', '.join(too_big)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
