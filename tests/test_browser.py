"""The console in a real browser (Playwright + Debian's Chromium) against the real stack."""

import json

import httpx
import pytest

import storage
from storage.events import parse_envelope, record_event
from tests.browser import commit_text, needs_chromium, running_stack, wait_ready
from tests.helpers import (
    ServerProcess,
    free_port,
    input_needed,
    run_cli,
    wait_until,
)

pytestmark = [pytest.mark.browser, needs_chromium]
HOSTILE = (
    "**bold** <script>window.pwned=1</script> [click](javascript:alert(1)) "
    '<img src=x onerror="window.pwned=2">'
)


@pytest.fixture
def stack(tmp_path):
    with running_stack(tmp_path) as running:
        yield running


def create_case(stack, scenario: str) -> str:
    case_file = stack["tmp"] / "case.json"
    from offload_console.templates import W9_TEMPLATE

    case_file.write_text(json.dumps(W9_TEMPLATE))
    out = run_cli("create", str(case_file), "--scenario", scenario, base_env=stack["env"])
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def open_inbox(browser, stack, name):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(stack["dashboard"] + "/")
    wait_ready(page)
    commit_text(page, ".st-key-operator_name input", name)
    return page


def wait_for_question(page, timeout=40):
    """The inbox refreshes itself every 10 s; reloading just makes the test quicker."""

    def visible():
        if page.locator('[class*="st-key-send_"] button').count() > 0:
            return True
        page.reload()
        wait_ready(page)
        return False

    wait_until(visible, timeout=timeout, interval=0.5, message="question in the inbox")


def test_answer_in_inbox_and_see_case_complete(browser, stack, tmp_path):
    case_id = create_case(stack, "input_needed")
    page = open_inbox(browser, stack, "Avery")
    wait_for_question(page)
    assert "Inbox (1)" in page.locator('[data-testid="stSidebarNav"]').inner_text()
    page.screenshot(path=str(tmp_path / "inbox.png"), full_page=True)
    commit_text(page, '[class*="st-key-answer_"] textarea', "Yes, next Monday is acceptable.")
    page.locator('[class*="st-key-send_"] button').first.click()
    page.wait_for_selector("text=Answer sent", timeout=30_000)
    timeline = f"{stack['dashboard']}/case?case={case_id}"

    def completed():
        page.goto(timeline)
        wait_ready(page)
        return "completed" in page.locator('[data-testid="stMetric"]').first.inner_text()

    wait_until(completed, timeout=40, interval=1, message="case completed on its timeline")
    page.screenshot(path=str(tmp_path / "timeline.png"), full_page=True)
    db = storage.open_db(stack["env"]["OFFLOAD_CONSOLE_DB"])
    row = next(db.query("SELECT * FROM input_requests WHERE case_id = ?", [case_id]))
    assert (row["status"], row["answered_by"]) == ("ANSWERED", "Avery")


def test_two_operators_clicking_at_once_send_one_answer(browser, stack):
    create_case(stack, "input_needed")
    pages = [open_inbox(browser, stack, name) for name in ("Avery", "Blake")]
    for page in pages:
        wait_for_question(page)
        commit_text(page, '[class*="st-key-answer_"] textarea', "Yes, fine.")
    buttons = [p.locator('[class*="st-key-send_"] button').first for p in pages]
    for button in buttons:  # as close together as two clicks get
        button.click(no_wait_after=True)
    for page in pages:
        page.wait_for_timeout(500)
        wait_ready(page)
    sandbox = f"http://127.0.0.1:{stack['ports']['sandbox']}/healthz"
    assert httpx.get(sandbox).json()["input_posts"] == 1
    texts = " ".join(p.locator('[data-testid="stMain"]').inner_text() for p in pages)
    assert "Answer sent" in texts
    assert any(
        told in texts
        for told in ("answering this question", "Already answered by", "answered this question")
    )


def test_hostile_question_renders_as_literal_text(browser, tmp_path):
    db_path = str(tmp_path / "hostile.db")
    db = storage.open_db(db_path)
    env = input_needed("c-evil", "r-evil", 1000, HOSTILE)
    with db.atomic():
        record_event(db, parse_envelope(env, json.dumps(env)), 1)
    server = ServerProcess(["dashboard", "--db", db_path], health_path="/_stcore/health")
    server.start(free_port())
    try:
        page = browser.new_page()
        page.goto(server.url + "/")
        wait_ready(page)
        page.wait_for_selector("text=Inbox (1)")
        main = page.locator('[data-testid="stMain"]')
        assert HOSTILE in main.inner_text()
        assert main.locator("strong").count() == 0
        assert page.locator('a[href^="javascript:"]').count() == 0
        assert page.locator("img[src='x']").count() == 0
        assert page.evaluate("window.pwned === undefined")
    finally:
        server.stop()


def test_new_case_form_sends_one_case_with_a_schema(browser, stack, tmp_path):
    page = open_inbox(browser, stack, "Avery")
    page.goto(stack["dashboard"] + "/new")
    wait_ready(page)
    commit_text(page, ".st-key-operator_name input", "Avery")
    page.locator(".st-key-nc_send button").click()  # empty form: errors at the fields
    page.wait_for_selector("text=Say what the case should achieve.")
    commit_text(page, ".st-key-nc_objective input", "Collect a signed W-9 from the vendor")
    commit_text(page, ".st-key-nc_client_reference_id input", "vendor_browser_1")
    commit_text(page, ".st-key-nc_cp_address input", "ap@northstar.example")
    commit_text(page, ".st-key-nc_cp_name input", "Maya Chen")
    commit_text(page, ".st-key-nc_sp_name input", "Avery")
    page.locator(".st-key-nc_has_schema label").click()
    wait_ready(page)
    schema = {
        "type": "object",
        "required": ["signedW9Received"],
        "properties": {
            "signedW9Received": {"type": "boolean"},
            "address": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    commit_text(page, ".st-key-nc_schema_json textarea", json.dumps(schema))
    page.screenshot(path=str(tmp_path / "new_case.png"), full_page=True)
    send = page.locator(".st-key-nc_send button")
    send.click()
    page.wait_for_selector("text=Case created.", timeout=30_000)
    send.click()  # a second click on the same form
    page.wait_for_selector("text=no second case", timeout=30_000)
    sandbox = f"http://127.0.0.1:{stack['ports']['sandbox']}/healthz"
    assert httpx.get(sandbox).json()["cases"] == 1
    page.get_by_text("Open the case").click()
    page.wait_for_url("**/case?case=*")
    wait_ready(page)
    page.wait_for_selector('[data-testid="stMetric"]')
    db = storage.open_db(stack["env"]["OFFLOAD_CONSOLE_DB"])
    case = next(db.query("SELECT * FROM cases"))
    assert json.loads(case["result_schema"]) == schema


def test_audit_detail_is_read_whole_by_selecting_its_row(browser, tmp_path):
    """Issue 12, defect 7: the Audit page's detail column is cut; selecting a row shows the
    whole detail."""
    from storage import audit

    db_path = str(tmp_path / "audit.db")
    db = storage.open_db(db_path)
    long_detail = {"filters": {"status": ["COMPLETED"]}, "rows": 12, "note": "x" * 300}
    audit.record(db, "Avery", "export.written", detail=long_detail)
    server = ServerProcess(["dashboard", "--db", db_path], health_path="/_stcore/health")
    server.start(free_port())
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server.url + "/audit")
        wait_ready(page)
        box = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
        page.mouse.click(box["x"] + 12, box["y"] + 35 + 17)  # the first row's selection cell
        page.wait_for_selector('[data-testid="stCode"]', timeout=15_000)
        wait_ready(page)
        shown = json.loads(page.locator('[data-testid="stCode"]').first.inner_text())
        assert shown == long_detail
        page.close()
    finally:
        server.stop()
