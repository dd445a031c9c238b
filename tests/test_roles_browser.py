"""Issue 33 in Chromium: a viewer tries every action (Send, bulk, assign, launch, export) and an
admin demoted while the Team page is open tries to change a role; each is refused in words
where it happens, nothing reaches Offload or the database, and each refusal is audited."""

from __future__ import annotations

import json

import httpx
import pytest

import storage
from offload_console.accounts import add_operator
from storage.operators import set_role
from tests.browser import (
    SERVER_WAIT_MS,
    commit_text,
    launch_questions,
    needs_chromium,
    running_stack,
    wait_ready,
)
from tests.helpers import wait_until
from tests.test_sign_in_cookie import sign_in

pytestmark = [pytest.mark.browser, needs_chromium]
PASSWORD = "a long enough password"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("roles"), reconcile_every_s="0") as running:
        launch_questions(running, ["role-0", "role-1"])
        db = storage.open_db(running["db"])
        for name, role in (("lee", "viewer"), ("ada", "admin"), ("avery", "operator")):
            add_operator(db, name, PASSWORD, by="setup")
            set_role(db, name, role)
        yield running


def says(page, words: str) -> None:
    wait_until(
        lambda: words in page.locator('[data-testid="stMain"]').inner_text(),
        SERVER_WAIT_MS / 1000,
        0.2,
        f"“{words}” on the page",
    )


def test_a_viewer_is_refused_every_action_and_an_admin_demoted_mid_page(browser, stack):
    db = storage.open_db(stack["db"])
    waiting = [r[0] for r in db.execute("SELECT input_request_id FROM input_requests ORDER BY 1")]
    submissions_before = db.execute("SELECT count(*) FROM submissions").fetchone()[0]
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    admin = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        sign_in(page, stack["dashboard"], "lee", PASSWORD)
        first = waiting[0]
        page.goto(stack["dashboard"] + f"/?request={first}")
        page.wait_for_selector(f".st-key-send_{first}")
        commit_text(page, f".st-key-answer_{first} textarea", "A viewer's answer")
        page.locator(f".st-key-send_{first} button").click()
        says(page, "may not answer questions")
        wait_ready(page)
        page.locator(f".st-key-assign_me_{first} button").click()
        says(page, "may not assign questions")
        wait_ready(page)
        page.locator(f".st-key-bulk_pick_{waiting[1]} label").click()
        page.wait_for_selector(".st-key-bulk_answer textarea")
        commit_text(page, ".st-key-bulk_answer textarea", "A viewer's bulk answer")
        page.locator(".st-key-bulk_send button").click()
        says(page, "Your role (viewer) may not answer questions")
        page.goto(stack["dashboard"] + "/new")
        page.wait_for_selector(".st-key-nc_send button")
        wait_ready(page)
        page.locator(".st-key-nc_send button").click()
        says(page, "may not launch cases")
        page.goto(stack["dashboard"] + "/export")
        page.wait_for_selector(".st-key-ex_prepare button")
        wait_ready(page)
        page.locator(".st-key-ex_prepare button").click()
        says(page, "may not export")
        # The admin's Team page is open; an admin elsewhere makes them an operator; they click.
        lead = admin.new_page()
        sign_in(lead, stack["dashboard"], "ada", PASSWORD)
        lead.goto(stack["dashboard"] + "/team")
        lead.wait_for_selector(".st-key-team_change_avery button")
        wait_ready(lead)
        set_role(db, "ada", "operator")
        lead.locator(".st-key-team_change_avery button").click()
        says(lead, "may not manage operators")
    finally:
        context.close()
        admin.close()
    answers = httpx.get(
        stack["sandbox"] + "/_sandbox/answers", headers={"x-api-key": "sandbox-local-key"}
    ).json()["data"]
    assert answers == []
    rows = db.execute("SELECT answered_at, assigned_to FROM input_requests").fetchall()
    assert all(tuple(r) == (None, None) for r in rows)
    assert db.execute("SELECT count(*) FROM submissions").fetchone()[0] == submissions_before
    assert (
        db.execute("SELECT count(*) FROM audit_log WHERE action = 'export.made'").fetchone()[0] == 0
    )
    refused = [
        (r[0], json.loads(r[1])["action"])
        for r in db.execute(
            "SELECT operator, detail FROM audit_log WHERE action = 'role.refused' ORDER BY id"
        )
    ]
    assert sorted(refused) == sorted(
        [
            ("lee", "answer"),
            ("lee", "assign"),
            ("lee", "answer"),
            ("lee", "launch"),
            ("lee", "export"),
            ("ada", "operators"),
        ]
    )
