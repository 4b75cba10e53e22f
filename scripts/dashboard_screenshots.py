"""Take the dashboard screenshots of docs/dashboard.md with a headless Chromium.

    .venv/bin/python scripts/dashboard_screenshots.py [--shop DIR] [--out docs/img]

Without `--shop`, builds the bundled sample shop in a temporary folder first (the UCI
Online Retail customers, EASE, item-kNN and BPR, and an evaluation report; about half a
minute). With `--shop DIR`, uses DIR/shop.duckdb, DIR/models and DIR/reports as they are.
The service runs in this process (uvicorn on a free local port); the browser is Debian's
/usr/bin/chromium driven by Playwright, so nothing is downloaded.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from shopsense import workflows
from shopsense.config import Settings
from shopsense.data.sources import load_sample
from shopsense.data.store import Store
from shopsense.serve.app import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1366, "height": 860}  # a common laptop screen
EXAMPLE_USER = "12348"


def settings_for(root: Path) -> Settings:
    """Store, registry and reports of one shop folder."""
    return Settings(
        store_path=root / "shop.duckdb",
        models_dir=root / "models",
        reports_dir=root / "reports",
        default_model="ease",
    )


def build_sample_shop(root: Path) -> Settings:
    """The sample shop the tests serve, so the screenshots show what tests check."""
    settings = settings_for(root)
    data = load_sample()
    with Store(settings.store_path) as store:
        for table, frame in data.tables.items():
            store.write_frame(table, frame, source=data.name)
    workflows.train(settings, "ease", {"l2": 100.0})
    workflows.train(settings, "ease", {"l2": 400.0})
    workflows.train(settings, "itemknn")
    workflows.train(settings, "bpr", {"epochs": 5, "factors": 16})
    workflows.evaluate_models(settings, ["popular", "itemknn", "ease"], progress=False)
    return settings


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The app on a free local port in a background thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=5) as response:
                if response.status == 200:
                    break
        except OSError:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the service did not start") from None
            time.sleep(0.1)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def screenshots(base: str, out: Path) -> list[Path]:
    """Overview, models and explorer pages, full length, at a laptop's width."""
    out.mkdir(parents=True, exist_ok=True)
    pages = {
        "dashboard-overview.png": "/dashboard",
        "dashboard-models.png": "/dashboard/models",
        "dashboard-explorer.png": f"/dashboard/explorer?user={EXAMPLE_USER}&k=10",
    }
    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
        for name, path in pages.items():
            page.goto(base + path, wait_until="load")
            page.screenshot(path=out / name, full_page=True)
            written.append(out / name)
        browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shop", type=Path, help="folder with shop.duckdb, models/, reports/")
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(args.shop) if args.shop else build_sample_shop(Path(tmp))
        with serving(settings) as base:
            for path in screenshots(base, args.out):
                print(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
