"""Issue 20, point 3: a local-account sign-in survives a reload, a new tab and a notification
link opened cold (an HttpOnly, SameSite=Strict cookie holding a random token, set by the
dashboard's own route), and ends at the next page run everywhere on sign-out, on a change of
the account, and with time. In Chromium against a real ``offload-console dashboard``."""

from __future__ import annotations

import json
import time

import httpx
import pytest

import storage
from offload_console.accounts import SESSION_COOKIE, add_operator, delete_operator
from storage.audit import list_audit
from storage.events import parse_envelope, record_event
from tests.browser import needs_chromium, wait_ready
from tests.helpers import ServerProcess, free_port, input_needed, wait_until

pytestmark = [pytest.mark.browser, needs_chromium]

QUESTION = "May we send the signed W-9 on Monday?"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db_path = str(tmp_path_factory.mktemp("cookie") / "console.db")
    db = storage.open_db(db_path)
    envelope = input_needed("c-cookie", "r-cookie", 1_000, QUESTION)
    with db.atomic():
        record_event(db, parse_envelope(envelope, json.dumps(envelope)), 1)
    add_operator(db, "blake", "another long password", by="admin")  # sign-in stays on
    running = ServerProcess(["dashboard", "--db", db_path], health_path="/_stcore/health")
    running.start(free_port())
    running.db = db
    yield running
    running.stop()


@pytest.fixture
def dashboard(server):
    """The shared dashboard with account avery as new: its password set again (which ends
    every session an earlier test left)."""
    add_operator(server.db, "avery", PASSWORD, by="admin")
    return server


def signed_in(page) -> bool:
    wait_ready(page)
    return page.locator(".st-key-auth_logout").count() == 1


def sign_in(page, url: str, name: str = "avery", password: str = PASSWORD) -> None:
    page.goto(url)
    wait_ready(page)
    page.locator(".st-key-auth_name input").fill(name)
    field = page.locator(".st-key-auth_password input")
    assert field.get_attribute("autocomplete") == "current-password"  # a manager may fill it
    field.fill(password)
    page.get_by_role("button", name="Sign in").click()
    wait_until(lambda: signed_in(page), 90, 0.2, "signed in")


PAGES = 10


def nav_links(page) -> int:
    wait_ready(page)
    return page.locator('[data-testid="stSidebarNav"] a').count()


def session_cookie(context) -> dict | None:
    return next((c for c in context.cookies() if c["name"] == SESSION_COOKIE), None)


def test_a_sign_in_survives_reloads_new_tabs_and_links_and_ends_everywhere(dashboard, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    signed_before = len(list_audit(dashboard.db, action="operator.signed_in"))
    sign_in(page, dashboard.url + "/")
    wait_until(lambda: session_cookie(context), 30, 0.2, "the browser has its cookie")
    cookie = session_cookie(context)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert 11.9 * 3600 < cookie["expires"] - time.time() <= 12 * 3600
    assert cookie["value"] not in page.evaluate("document.cookie")  # no script can read it
    assert cookie["value"] not in page.content()
    page.reload()
    assert signed_in(page) and QUESTION in page.locator("body").inner_text()
    link = context.new_page()  # a notification link opened cold in the same browser
    link.goto(dashboard.url + "/case?case=c-cookie")
    assert signed_in(link) and QUESTION in link.locator("body").inner_text()
    for cold in (page, link):  # every page reachable at once, before any click (issue 31)
        assert nav_links(cold) == PAGES, cold.url
    signed = list_audit(dashboard.db, action="operator.signed_in")
    assert len(signed) == signed_before + 1  # one password, three pages
    other = browser.new_context().new_page()  # another browser has no cookie
    other.goto(dashboard.url + "/")
    assert not signed_in(other) and QUESTION not in other.locator("body").inner_text()

    page.locator(".st-key-auth_logout button").click()
    wait_until(lambda: page.locator(".st-key-auth_name").count() == 1, 90, 0.2, "signed out")
    wait_until(lambda: session_cookie(context) is None, 30, 0.2, "the cookie is cleared")
    link.reload()
    assert not signed_in(link) and QUESTION not in link.locator("body").inner_text()

    # A copy of the cookie kept from before the sign-out is worth nothing.
    copied = browser.new_context()
    copied.add_cookies([{**cookie, "expires": cookie["expires"]}])
    stolen = copied.new_page()
    stolen.goto(dashboard.url + "/")
    assert not signed_in(stolen)
    copied.close()
    context.close()


@pytest.mark.parametrize("end", ["password changed", "removed", "expired"])
def test_a_sign_in_ends_at_the_next_page_run_when_its_account_changes_or_time_runs_out(
    dashboard, browser, end
):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sign_in(page, dashboard.url + "/")
    wait_until(lambda: session_cookie(context), 30, 0.2, "the browser has its cookie")
    if end == "password changed":
        add_operator(dashboard.db, "avery", "a brand new password", by="admin")
    elif end == "removed":
        delete_operator(dashboard.db, "avery", by="admin")
    else:
        with dashboard.db.conn:
            dashboard.db.execute(
                "UPDATE sign_in_sessions SET expires_at = 1 WHERE ended_at IS NULL"
            )
    page.reload()
    assert not signed_in(page)
    assert QUESTION not in page.locator("body").inner_text()
    fresh = context.new_page()
    fresh.goto(dashboard.url + "/")
    assert not signed_in(fresh)
    context.close()


def test_the_cookie_route_takes_a_ticket_once(dashboard):
    """``/auth/session``: an unknown ticket gets 403 and no cookie; a real one, once."""
    from offload_console.accounts import start_session

    refused = httpx.post(dashboard.url + "/auth/session", content="made-up")
    assert refused.status_code == 403 and SESSION_COOKIE not in refused.cookies
    _, ticket = start_session(dashboard.db, "avery", 3_600_000)
    first = httpx.post(dashboard.url + "/auth/session", content=ticket)
    assert first.status_code == 200 and first.cookies.get(SESSION_COOKIE)
    assert "httponly" in first.headers["set-cookie"].lower()
    assert "samesite=strict" in first.headers["set-cookie"].lower()
    again = httpx.post(dashboard.url + "/auth/session", content=ticket)
    assert again.status_code == 403
