"""Take the README's screenshots: start `up` with demo cases, open pages in Chromium.

.venv/bin/python scripts/screenshots.py [--out docs/screenshots]
"""

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'
sys.path.insert(0, str(ROOT))

from tests.helpers import launch_up  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="shots-"))
    proc, ports, _env, _log = launch_up(tmp, seed_demo="yes", hour_seconds=0.05)
    base = f"http://127.0.0.1:{ports['dashboard']}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                health = httpx.get(f"http://127.0.0.1:{ports['sidecar']}/healthz").json()
                if health["pending_input_requests"] >= 3:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/lib/chromium/chromium",
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page(
                viewport={"width": 1400, "height": 900}, timezone_id="America/New_York"
            )
            page.goto(base + "/")
            page.wait_for_selector(READY)
            name = page.locator(".st-key-operator_name input")
            name.fill("Avery")
            name.press("Enter")
            page.wait_for_timeout(1000)
            page.wait_for_selector(READY)
            page.screenshot(path=f"{args.out}/inbox.png")
            page.goto(base + "/cases")
            page.wait_for_selector(READY)
            page.wait_for_timeout(1000)
            page.screenshot(path=f"{args.out}/cases.png")
            page.goto(base + "/new")
            page.wait_for_selector(READY)
            page.get_by_text("Templates", exact=True).click()
            page.locator(".st-key-nc_template_load button").click()
            page.wait_for_timeout(500)
            page.wait_for_selector(READY)
            page.get_by_text("Templates", exact=True).click()  # fold it again
            page.set_viewport_size({"width": 1400, "height": 1100})
            page.get_by_role("heading", name="Writing as").scroll_into_view_if_needed()
            page.wait_for_timeout(500)
            page.screenshot(path=f"{args.out}/new_case.png")
            page.set_viewport_size({"width": 1400, "height": 900})
            page.goto(base + "/health")
            page.wait_for_selector(READY)
            page.locator("[data-testid=stDataFrame]").first.wait_for()
            page.wait_for_timeout(500)
            page.screenshot(path=f"{args.out}/health.png")
            page.goto(base + "/deliveries")
            page.wait_for_selector(READY)
            page.locator("[data-testid=stDataFrame]").first.wait_for()
            page.wait_for_timeout(500)
            page.screenshot(path=f"{args.out}/deliveries.png")
            print("screenshots written to", args.out)
            browser.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
