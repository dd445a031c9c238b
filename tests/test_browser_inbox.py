"""Issue 15 in a real browser against `offload-console up` with a notification receiver:
a question reaches an open Inbox without a reload, overdue in words and in the nav and tab
title, notified once per kind, assigned, and someone else's answer held for confirmation;
asserted on the page, the database, the receiver and the sandbox."""

import time
from pathlib import Path

import httpx
import pytest
import sqlite_utils

import storage
from tests.browser import SERVER_WAIT_MS, commit_text, needs_chromium, running_stack, wait_ready
from tests.helpers import dumps, input_needed, wait_until
from tests.test_notify_servers import Receiver

pytestmark = [pytest.mark.browser, needs_chromium]
HOUR = 3_600_000


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.close()


@pytest.fixture
def stack(tmp_path, receiver):
    extra = {"OFFLOAD_CONSOLE_NOTIFY_URLS": receiver.url, "OFFLOAD_CONSOLE_NOTIFY_RETRY_S": "1"}
    with running_stack(tmp_path, reconcile_every_s="0", extra_env=extra) as running:
        yield running


def open_inbox(browser, stack, name):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(stack["dashboard"] + "/")
    wait_ready(page)
    commit_text(page, ".st-key-operator_name input", name)
    return page


def test_a_question_reaches_an_open_inbox_overdue_notified_assigned_and_guarded(
    browser, stack, receiver
):
    avery = open_inbox(browser, stack, "Avery")
    blake = open_inbox(browser, stack, "Blake")
    asked = storage.now_ms() - 5 * HOUR  # past the default 4 h window: overdue on arrival
    envelope = input_needed("c-live", "r-live", asked, "Can we pay by card instead?")
    envelope["data"]["clientReferenceId"] = "vendor_live"
    sidecar = f"http://127.0.0.1:{stack['ports']['sidecar']}/webhooks/offload"
    posted = time.monotonic()
    assert httpx.post(
        sidecar, content=dumps(envelope), headers={"content-type": "application/json"}
    ).is_success
    # No reload: the open Inbox notices the question by itself.
    avery.wait_for_selector("text=Can we pay by card instead?", timeout=SERVER_WAIT_MS)
    seen_after = time.monotonic() - posted
    print(f"question visible on the open Inbox {seen_after:.1f} s after the webhook's ack")
    wait_ready(avery)
    body = avery.locator('[data-testid="stMain"]').inner_text()
    assert "overdue by 1 h" in body
    nav = avery.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "Inbox (1) · 1 overdue" in nav
    assert avery.title() == "(1) Offload console"

    # Notified once per kind: the new question and its being overdue.
    db_path = stack["db"]

    def sent_kinds():
        rows = sqlite_utils.Database(db_path)["notifications"].rows
        return sorted((r["kind"], r["status"]) for r in rows)

    wait_until(
        lambda: sent_kinds() == [("question.new", "SENT"), ("question.overdue", "SENT")],
        timeout=SERVER_WAIT_MS / 1000,
        message="both notifications sent",
    )
    titles = sorted(m["title"] for m in receiver.received)
    assert titles == ["Question overdue: vendor_live", "Question waiting: vendor_live"]
    assert all("/?request=r-live" in m["message"] for m in receiver.received)

    # Avery takes it; Blake's browser shows it as Avery's after its refresh.
    avery.locator(".st-key-assign_me_r-live button").click()
    avery.wait_for_selector("text=Assigned to: Avery", timeout=SERVER_WAIT_MS)
    db = sqlite_utils.Database(db_path)
    assert db["input_requests"].get("r-live")["assigned_to"] == "Avery"
    blake.wait_for_selector("text=Assigned to: Avery", timeout=SERVER_WAIT_MS)

    # Blake answers anyway: held until confirmed, and nothing reaches Offload meanwhile.
    wait_ready(blake)
    commit_text(blake, ".st-key-answer_r-live textarea", "Card is fine.")
    blake.locator(".st-key-send_r-live button").click()
    blake.wait_for_selector("text=assigned to another operator", timeout=SERVER_WAIT_MS)
    answers = httpx.get(
        stack["sandbox"] + "/_sandbox/answers", headers={"x-api-key": "sandbox-local-key"}
    ).json()["data"]
    assert answers == []
    row = db["input_requests"].get("r-live")
    assert (row["status"], row["claimed_by"]) == ("PENDING", None)
    assert "Card is fine." in blake.locator(".st-key-answer_r-live textarea").input_value()

    # Avery is typing (not yet committed) when the next question arrives and the Inbox
    # redraws: the typed words stay.
    avery.locator(".st-key-answer_r-live textarea").fill("Half-typed answer")
    # The toast naming a new question's case shows outside text as typed, never rendered.
    hostile = "**bold** :red[x] $x$ <b>y</b> [a](javascript:alert(1))"
    second = input_needed("c-toast", "r-toast", storage.now_ms(), "Another one?")
    second["data"]["clientReferenceId"] = hostile
    assert httpx.post(
        sidecar, content=dumps(second), headers={"content-type": "application/json"}
    ).is_success
    toast = avery.locator('[data-testid="stToast"]').filter(has_text="javascript")
    toast.wait_for(timeout=SERVER_WAIT_MS)
    shown = toast.inner_text().replace("\u200b", "")
    assert hostile in shown
    assert toast.locator("strong, b, a, .katex").count() == 0
    avery.wait_for_selector("text=Another one?", timeout=SERVER_WAIT_MS)
    wait_ready(avery)
    assert avery.locator(".st-key-answer_r-live textarea").input_value() == "Half-typed answer"


@pytest.fixture(scope="module")
def quiet_stack(tmp_path_factory):
    """An `up` with no case and no receiver, shared by the tests below (none creates a case)."""
    with running_stack(tmp_path_factory.mktemp("quiet"), reconcile_every_s="0") as running:
        yield running


def test_filters_live_in_the_url_and_the_back_button_walks_them_back(browser, quiet_stack):
    stack = quiet_stack
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(stack["dashboard"] + "/cases")
    wait_ready(page)
    commit_text(page, ".st-key-cases_search input", "vendor")
    assert page.url.endswith("/cases?q=vendor")
    commit_text(page, ".st-key-cases_search input", "w9")
    assert page.url.endswith("/cases?q=w9")
    page.go_back()
    page.wait_for_url("**/cases?q=vendor")
    wait_ready(page)
    wait_until(
        lambda: page.locator(".st-key-cases_search input").input_value() == "vendor",
        message="the search box follows the URL back",
    )
    # A link opens the same Inbox view.
    page.goto(stack["dashboard"] + "/?view=unassigned&q=monday")
    wait_ready(page)
    assert page.locator(".st-key-inbox_q input").input_value() == "monday"
    selected = page.locator('.st-key-inbox_view button[aria-checked="true"]')
    assert selected.inner_text() == "Unassigned"


def test_a_refused_body_is_read_as_text_and_downloaded_from_the_deliveries_page(
    browser, quiet_stack
):
    hostile = '{"event_id": "<b>bold</b> **x**", "data": [1, 2'
    stack = quiet_stack
    sidecar = f"http://127.0.0.1:{stack['ports']['sidecar']}/webhooks/offload"
    refused = httpx.post(
        sidecar, content=hostile.encode(), headers={"content-type": "application/json"}
    )
    assert refused.status_code == 400
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(stack["dashboard"] + "/deliveries")
    wait_ready(page)
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for()
    box = grid.bounding_box()
    # The newest delivery is the refused one: its row is the first under the header.
    page.mouse.click(box["x"] + 15, box["y"] + 55)
    page.wait_for_selector("text=Refused body", timeout=SERVER_WAIT_MS)
    wait_ready(page)
    code = page.locator('[data-testid="stCode"]').first
    assert code.inner_text().strip() == hostile
    assert page.locator('[data-testid="stMain"] b').count() == 0
    with page.expect_download() as download:
        page.locator(".st-key-dl_download button").click()
    assert Path(download.value.path()).read_text() == hostile
