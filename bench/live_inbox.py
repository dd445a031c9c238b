"""Seconds from a webhook's ack to its question on an open Inbox (Chromium, no reload).

    .venv/bin/python bench/live_inbox.py [--questions 8]

Starts `offload-console up` in sandbox mode on free ports, opens the Inbox in Debian's
Chromium, then posts one input_needed webhook at a time to the sidecar and times how long the
question takes to appear on the open page. Prints each time, the median and the worst
(issue 15's floor: within 5 s of the sidecar storing it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storage import now_ms  # noqa: E402
from tests.browser import CHROMIUM, running_stack, wait_ready  # noqa: E402
from tests.helpers import dumps, input_needed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=8)
    args = parser.parse_args()
    times = []
    with running_stack(
        Path(tempfile.mkdtemp(prefix="bench-live-")), reconcile_every_s="0"
    ) as stack:
        sidecar = f"http://127.0.0.1:{stack['ports']['sidecar']}/webhooks/offload"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(stack["dashboard"] + "/")
            wait_ready(page)
            for n in range(args.questions):
                question = f"Live question number {n}?"
                envelope = input_needed(f"c-live-{n}", f"r-live-{n}", now_ms(), question)
                acked = httpx.post(
                    sidecar, content=dumps(envelope), headers={"content-type": "application/json"}
                )
                acked.raise_for_status()
                started = time.monotonic()
                page.wait_for_selector(f"text={question}", timeout=30_000)
                times.append(time.monotonic() - started)
                print(f"question {n + 1}: {times[-1]:.2f} s")
                time.sleep(0.7)  # questions arrive at different moments of the 2 s poll
            browser.close()
    print(
        f"webhook ack -> question on the open Inbox: median {statistics.median(times):.2f} s, "
        f"worst {max(times):.2f} s over {len(times)} (floor: <= 5 s)"
    )


if __name__ == "__main__":
    main()
