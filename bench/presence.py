"""Seconds from one operator opening or typing in a question to another operator's open Inbox
saying so (Chromium, two browser contexts, no reload).

    .venv/bin/python bench/presence.py [--questions 6]

Starts `offload-console up` in sandbox mode on free ports with that many waiting questions,
opens the Inbox as Avery and as Blake; for each question Blake opens it (timed until Avery's
row says "Blake is viewing"), then types in its box without committing (timed until "Blake is
typing"). Prints each time, the medians and the worst (issue 31's floor: within 3 s).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import storage  # noqa: E402
from offload_client import OffloadClient  # noqa: E402
from offload_console.outbox import submit_case  # noqa: E402
from offload_console.templates import W9_TEMPLATE  # noqa: E402
from tests.browser import CHROMIUM, commit_text, running_stack, wait_ready  # noqa: E402
from tests.helpers import wait_until  # noqa: E402


def said(row) -> str | None:
    """What the row says of who else is on it (an attribute the key script writes in)."""
    return row.get_attribute("data-presence") if row.count() == 1 else None


def timed(predicate) -> float:
    started = time.monotonic()
    wait_until(predicate, 30, 0.05, "seen")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=6)
    args = parser.parse_args()
    viewing, typing = [], []
    with running_stack(
        Path(tempfile.mkdtemp(prefix="bench-presence-")), reconcile_every_s="0"
    ) as stack:
        db = storage.open_db(stack["db"])
        client = OffloadClient(stack["sandbox"], "sandbox-local-key")
        hook = f"http://127.0.0.1:{stack['ports']['sidecar']}/webhooks/offload"
        for n in range(args.questions + 1):
            body = {
                **W9_TEMPLATE,
                "clientReferenceId": f"p-{n}",
                "clientWebhookUrl": hook,
                "metadata": {"sandboxScenario": "input_needed"},
            }
            submit_case(db, client, body, actor="bench")
        wait_until(
            lambda: (
                db.execute(
                    "SELECT count(*) FROM input_requests WHERE status = 'PENDING'"
                ).fetchone()[0]
                == args.questions + 1
            ),
            60,
            0.2,
            "questions",
        )
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            pages = {}
            for name in ("Avery", "Blake"):
                page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
                page.goto(stack["dashboard"] + "/")
                wait_ready(page)
                commit_text(page, ".st-key-operator_name input", name)
                pages[name] = page
            avery, blake = pages["Avery"], pages["Blake"]
            time.sleep(11)  # the sessions before the names were typed are gone
            classes = avery.locator('[class*="st-key-row_"]').evaluate_all(
                "es => es.map(e => e.className)"
            )
            ids = [re.search(r"st-key-row_(\S+)", c).group(1) for c in classes]
            for n, request_id in enumerate(ids[1 : args.questions + 1]):
                row = avery.locator(f'.st-key-row_{request_id} [data-testid="stText"] span')
                wait_ready(blake)
                blake.locator(f".st-key-open_{request_id} button").click()
                viewing.append(timed(lambda row=row: said(row) == "Blake is viewing"))
                box = blake.locator(f".st-key-answer_{request_id} textarea")
                wait_until(lambda box=box: box.count() == 1, 30, 0.05, "box")
                box.click()
                blake.keyboard.type("a draft")
                typing.append(timed(lambda row=row: said(row) == "Blake is typing"))
                print(f"question {n + 1}: viewing {viewing[-1]:.2f} s, typing {typing[-1]:.2f} s")
            browser.close()
    print(
        f"seen viewing: median {statistics.median(viewing):.2f} s, worst {max(viewing):.2f} s; "
        f"seen typing: median {statistics.median(typing):.2f} s, worst {max(typing):.2f} s "
        f"over {len(viewing)} (floor: <= 3 s)"
    )


if __name__ == "__main__":
    main()
