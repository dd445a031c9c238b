"""Playwright with Debian's Chromium (never a downloaded browser)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

import pytest

CHROMIUM = "/usr/lib/chromium/chromium"
READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason="Debian's chromium is not installed (bash scripts/test installs it)",
)


# How long a browser test waits for something the server does (a rerun, an answer sent, a
# question arriving): sized for a 2-core machine running a CPU hog beside the suite, where
# a rerun that takes 1 s alone can take 20. A wait ends as soon as its condition holds.
SERVER_WAIT_MS = 90_000


def wait_ready(page, timeout=SERVER_WAIT_MS):
    page.wait_for_selector(READY, timeout=timeout)


def click_when_drawn(page, selector: str) -> None:
    """Click the one element ``selector`` names once the page has finished drawing: during a
    rerun Streamlit shows the old element beside the new one (both disabled), which a loaded
    machine keeps on screen for seconds."""
    from tests.helpers import wait_until

    def drawn():
        page.wait_for_selector(READY, timeout=SERVER_WAIT_MS)
        return page.locator(selector).count() == 1

    def seen():
        shot = f"/tmp/not-drawn-{os.getpid()}.png"
        page.screenshot(path=shot, full_page=True)
        return f"{selector} drawn (found {page.locator(selector).count()}; screenshot {shot})"

    wait_until(drawn, timeout=SERVER_WAIT_MS / 1000, interval=0.2, message=seen)
    page.locator(selector).click()


def commit_text(page, selector: str, value: str) -> None:
    """Fill a Streamlit text input/area and commit it (Streamlit commits on blur/Enter; in
    the Inbox's answer boxes Ctrl+Enter sends, so a text area is left instead)."""
    field = page.locator(selector)
    field.fill(value)
    if "textarea" in selector:
        field.evaluate("e => e.blur()")
    else:
        field.press("Enter")
    page.wait_for_timeout(300)
    wait_ready(page)


def send_anyway(page, request_id: str) -> None:
    """After a Send the Inbox asked about (another operator is typing an answer, or has the
    question): tick "Send it anyway" and send again."""
    page.wait_for_selector(f".st-key-confirm_{request_id}", timeout=SERVER_WAIT_MS)
    click_when_drawn(page, f".st-key-confirm_{request_id} label")
    click_when_drawn(page, f".st-key-send_{request_id} button")


def send_confirming_if_asked(page, request_id: str, answer: str) -> None:
    """Click Send on the Inbox's selected question; if the Inbox asks first (someone else
    typed an answer within the last 8 s, which on a loaded machine may already be over), send
    anyway; wait until the line of what was just sent carries ``answer``."""
    from tests.helpers import wait_until

    click_when_drawn(page, f".st-key-send_{request_id} button")
    main, last = page.locator('[data-testid="stMain"]'), page.locator(".st-key-inbox_last")

    def outcome():
        page.wait_for_selector(READY, timeout=SERVER_WAIT_MS)
        if "Send it anyway" in main.inner_text():
            return "asked"
        return "sent" if answer in last.inner_text() else None

    if wait_until(outcome, SERVER_WAIT_MS / 1000, 0.2, "sent, or asked first") == "asked":
        send_anyway(page, request_id)
        wait_until(lambda: answer in last.inner_text(), SERVER_WAIT_MS / 1000, 0.2, "sent")


def launch_questions(running: dict, references: list[str]) -> None:
    """Launch a case per reference on a :func:`running_stack` whose sandbox counterparty asks
    one question each; return once every one of them waits in the console."""
    import storage
    from offload_client import OffloadClient
    from offload_console.outbox import submit_case
    from offload_console.templates import W9_TEMPLATE
    from tests.helpers import wait_until

    db = storage.open_db(running["db"])
    client = OffloadClient(running["sandbox"], "sandbox-local-key")
    hook = f"http://127.0.0.1:{running['ports']['sidecar']}/webhooks/offload"
    for reference in references:
        body = {
            **W9_TEMPLATE,
            "clientReferenceId": reference,
            "clientWebhookUrl": hook,
            "metadata": {"sandboxScenario": "input_needed"},
        }
        assert submit_case(db, client, body, actor="setup").status == "SENT"
    marks = ",".join("?" for _ in references)

    def waiting() -> bool:
        return db.execute(
            "SELECT count(*) FROM input_requests r JOIN cases c USING (case_id)"
            f" WHERE r.status = 'PENDING' AND c.client_reference_id IN ({marks})",
            references,
        ).fetchone()[0] == len(references)

    wait_until(waiting, SERVER_WAIT_MS / 1000, 0.3, message=f"{len(references)} questions waiting")


@contextlib.contextmanager
def running_stack(tmp_path, reconcile_every_s: str = "2", extra_env: dict | None = None):
    """`offload-console up` in sandbox mode on free ports, stopped (SIGTERM) on exit."""
    from tests.helpers import launch_up, wait_until

    proc, ports, env, log_path = launch_up(
        tmp_path, extra_env={"OFFLOAD_RECONCILE_EVERY_S": reconcile_every_s, **(extra_env or {})}
    )
    try:
        wait_until(
            lambda: "is up" in log_path.read_text() or proc.poll() is not None,
            timeout=90,
            interval=0.2,
            message="up started",
        )
        assert proc.poll() is None, log_path.read_text()
        cli_env = {
            **env,
            "OFFLOAD_BASE_URL": f"http://127.0.0.1:{ports['sandbox']}",
            "OFFLOAD_API_KEY": "sandbox-local-key",
            "OFFLOAD_PUBLIC_WEBHOOK_URL": f"http://127.0.0.1:{ports['sidecar']}/webhooks/offload",
        }
        yield {
            "ports": ports,
            "env": cli_env,
            "log": log_path,
            "tmp": tmp_path,
            "dashboard": f"http://127.0.0.1:{ports['dashboard']}",
            "sandbox": f"http://127.0.0.1:{ports['sandbox']}",
            "db": env["OFFLOAD_CONSOLE_DB"],
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
