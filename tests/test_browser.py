"""The console in a real browser (Playwright + Debian's Chromium) against the real stack."""

import json

import httpx
import pytest

import storage
from offload_console.assignment import assign
from storage.events import parse_envelope, record_event
from tests.browser import (
    SERVER_WAIT_MS,
    click_when_drawn,
    commit_text,
    needs_chromium,
    running_stack,
    wait_ready,
)
from tests.helpers import (
    input_needed,
    run_cli,
    wait_until,
)

pytestmark = [pytest.mark.browser, needs_chromium]
HOSTILE = (
    "**bold** <script>window.pwned=1</script> [click](javascript:alert(1)) "
    '<img src=x onerror="window.pwned=2">'
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """One `up` for the module: each test acts on the cases it created."""
    with running_stack(tmp_path_factory.mktemp("stack")) as running:
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


def pending_request(stack, case_id: str) -> str:
    """The id of the question the case waits on, once the console has it."""
    db = storage.open_db(stack["env"]["OFFLOAD_CONSOLE_DB"])

    def found():
        row = db.execute(
            "SELECT input_request_id FROM input_requests WHERE case_id = ? AND status = 'PENDING'",
            [case_id],
        ).fetchone()
        return row[0] if row else None

    return wait_until(found, timeout=60, interval=0.2, message="the case's question")


def wait_for_question(page, request_id, timeout=SERVER_WAIT_MS / 1000):
    """The inbox redraws itself when a question arrives (reloading just makes it quicker);
    then the question is selected in the queue, its answer box beside it."""

    def visible():
        if page.locator(f".st-key-open_{request_id} button").count() > 0:
            return True
        page.reload()
        wait_ready(page)
        return False

    wait_until(visible, timeout=timeout, interval=0.5, message="question in the inbox")
    click_when_drawn(page, f".st-key-open_{request_id} button")
    wait_until(
        lambda: wait_ready(page) or page.locator(f".st-key-send_{request_id} button").count(),
        timeout=timeout,
        interval=0.2,
        message="the question's answer box",
    )


def test_answer_in_inbox_and_see_case_complete(browser, stack, tmp_path):
    case_id = create_case(stack, "input_needed")
    request_id = pending_request(stack, case_id)
    page = open_inbox(browser, stack, "Avery")
    wait_for_question(page, request_id)
    assert "Inbox (" in page.locator('[data-testid="stSidebarNav"]').inner_text()
    page.screenshot(path=str(tmp_path / "inbox.png"), full_page=True)
    commit_text(page, f".st-key-answer_{request_id} textarea", "Yes, next Monday is acceptable.")
    page.locator(f".st-key-send_{request_id} button").click()
    page.wait_for_selector("text=Answer sent", timeout=SERVER_WAIT_MS)
    timeline = f"{stack['dashboard']}/case?case={case_id}"

    def completed():
        page.goto(timeline)
        wait_ready(page)
        return "completed" in page.locator('[data-testid="stMetric"]').first.inner_text()

    wait_until(
        completed,
        timeout=SERVER_WAIT_MS / 1000,
        interval=1,
        message="case completed on its timeline",
    )
    page.screenshot(path=str(tmp_path / "timeline.png"), full_page=True)
    db = storage.open_db(stack["env"]["OFFLOAD_CONSOLE_DB"])
    row = next(db.query("SELECT * FROM input_requests WHERE case_id = ?", [case_id]))
    assert (row["status"], row["answered_by"]) == ("ANSWERED", "Avery")


def test_two_operators_clicking_at_once_send_one_answer(browser, stack):
    request_id = pending_request(stack, create_case(stack, "input_needed"))
    # Assigned to a third operator: each Send needs "Send it anyway" ticked first, and both
    # operators tick it before clicking at once (each types while the other does: typing
    # alone would have asked them too).
    assign(storage.open_db(stack["env"]["OFFLOAD_CONSOLE_DB"]), request_id, "Casey", "setup")
    pages = [open_inbox(browser, stack, name) for name in ("Avery", "Blake")]
    for page in pages:
        wait_for_question(page, request_id)
        commit_text(page, f".st-key-answer_{request_id} textarea", "Yes, fine.")
        click_when_drawn(page, f".st-key-confirm_{request_id} label")
        wait_ready(page)
    buttons = [p.locator(f".st-key-send_{request_id} button") for p in pages]
    for button in buttons:  # as close together as two clicks get
        button.click(no_wait_after=True)

    def main_texts() -> str:
        return " ".join(p.locator('[data-testid="stMain"]').inner_text() for p in pages)

    told = ("answering this question", "Already answered by", "answered this question")
    wait_until(  # the winner is told it was sent, the loser who answered; a loaded box is slow
        lambda: "Answer sent" in main_texts() and any(t in main_texts() for t in told),
        timeout=SERVER_WAIT_MS / 1000,
        interval=0.3,
        message="both operators told what happened",
    )
    answers = httpx.get(
        stack["sandbox"] + "/_sandbox/answers", headers={"x-api-key": "sandbox-local-key"}
    ).json()["data"]
    assert [a["inputRequestId"] for a in answers].count(request_id) == 1


def test_hostile_question_renders_as_literal_text(browser, stack):
    db = storage.open_db(stack["env"]["OFFLOAD_CONSOLE_DB"])
    env = input_needed("c-evil", "r-evil", storage.now_ms(), HOSTILE)
    with db.atomic():
        record_event(db, parse_envelope(env, json.dumps(env)), 1)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(stack["dashboard"] + "/?q=pwned")
    wait_ready(page)
    page.wait_for_selector(".st-key-send_r-evil", timeout=SERVER_WAIT_MS)
    main = page.locator('[data-testid="stMain"]')
    assert HOSTILE in main.inner_text()
    assert main.locator("strong").count() == 0
    assert page.locator('a[href^="javascript:"]').count() == 0
    assert page.locator("img[src='x']").count() == 0
    assert page.evaluate("window.pwned === undefined")
    page.close()


def test_new_case_form_sends_one_case_with_a_schema(browser, stack, tmp_path):
    sandbox = f"http://127.0.0.1:{stack['ports']['sandbox']}/healthz"
    cases_before = httpx.get(sandbox).json()["cases"]
    page = open_inbox(browser, stack, "Avery")
    page.goto(stack["dashboard"] + "/new")
    wait_ready(page)
    commit_text(page, ".st-key-operator_name input", "Avery")
    click_when_drawn(page, ".st-key-nc_send button")  # empty form: errors at the fields
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
    click_when_drawn(page, ".st-key-nc_send button")
    page.wait_for_selector("text=Case created.", timeout=SERVER_WAIT_MS)
    click_when_drawn(page, ".st-key-nc_send button")  # a second click on the same form
    page.wait_for_selector("text=no second case", timeout=SERVER_WAIT_MS)
    assert httpx.get(sandbox).json()["cases"] == cases_before + 1
    page.get_by_text("Open the case").click()
    page.wait_for_url("**/case?case=*")
    wait_ready(page)
    page.wait_for_selector('[data-testid="stMetric"]')
    db = storage.open_db(stack["env"]["OFFLOAD_CONSOLE_DB"])
    case = next(db.query("SELECT * FROM cases WHERE client_reference_id = 'vendor_browser_1'"))
    assert json.loads(case["result_schema"]) == schema


def test_audit_detail_is_read_whole_by_selecting_its_row(browser, stack):
    """Issue 12, defect 7: the Audit page's detail column is cut; selecting a row shows the
    whole detail."""
    from storage import audit

    db = storage.open_db(stack["env"]["OFFLOAD_CONSOLE_DB"])
    long_detail = {"filters": {"status": ["COMPLETED"]}, "rows": 12, "note": "x" * 300}
    audit.record(db, "Avery", "export.written", detail=long_detail)  # the newest entry
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(stack["dashboard"] + "/audit")
    wait_ready(page)
    box = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
    page.mouse.click(box["x"] + 12, box["y"] + 35 + 17)  # the first row's selection cell
    page.wait_for_selector('[data-testid="stCode"]', timeout=SERVER_WAIT_MS)
    wait_ready(page)
    shown = json.loads(page.locator('[data-testid="stCode"]').first.inner_text())
    assert shown == long_detail
    page.close()


def test_new_case_sends_everything_typed_into_its_pairs_and_fields_table(browser, stack):
    """Issue 31, item 6: typing a key and a value into Custom data kept the value and lost
    the key, and the case went without customData. Every box of pairs and the fields table
    is typed into at keyboard speed; the request sent to POST /cases has all of it."""
    page = open_inbox(browser, stack, "Avery")
    page.goto(stack["dashboard"] + "/new")
    wait_ready(page)
    commit_text(page, ".st-key-operator_name input", "Avery")  # as the page's own run has it
    commit_text(page, ".st-key-nc_objective input", "Collect a signed W-9 from the vendor")
    commit_text(page, ".st-key-nc_client_reference_id input", "vendor_typed_1")
    commit_text(page, ".st-key-nc_cp_address input", "ap@northstar.example")
    commit_text(page, ".st-key-nc_cp_name input", "Maya Chen")
    commit_text(page, ".st-key-nc_sp_name input", "Avery")
    knowledge = page.locator('[class*="st-key-nc_knowledge_rows_text_"] textarea')
    knowledge.click()
    page.keyboard.type("vendorName: Northstar\nterms: net 30")
    page.get_by_text("Custom data (text values only)").click()
    custom = page.locator('[class*="st-key-nc_cp_custom_text_"] textarea')
    custom.click()
    page.keyboard.type("vendor_id: V-7781\nportal: https://ap.example/x:1")
    page.locator(".st-key-nc_has_schema label").click()
    wait_ready(page)
    field = page.locator(".st-key-nc_new_field input")
    field.click()
    page.keyboard.type("taxId")
    page.locator(".st-key-nc_add_field button").click()  # at once: no Enter, no wait
    schema_json = page.locator(".st-key-nc_schema_json textarea")
    wait_until(  # the field is in the schema: the table and the JSON start again from it
        lambda: wait_ready(page) or "taxId" in schema_json.input_value(),
        SERVER_WAIT_MS / 1000,
        0.2,
        "the field added",
    )
    page.screenshot(path="/tmp/new-case-typed.png", full_page=True)
    click_when_drawn(page, ".st-key-nc_send button")
    page.wait_for_selector("text=Case created.", timeout=SERVER_WAIT_MS)
    db = storage.open_db(stack["env"]["OFFLOAD_CONSOLE_DB"])
    (request,) = [
        json.loads(r["request"])
        for r in db.query("SELECT request FROM submissions")
        if json.loads(r["request"]).get("clientReferenceId") == "vendor_typed_1"
    ]
    assert request["counterparty"]["customData"] == {
        "vendor_id": "V-7781",
        "portal": "https://ap.example/x:1",
    }
    assert request["goal"]["knowledge"] == {"vendorName": "Northstar", "terms": "net 30"}
    assert request["resultSchema"]["properties"] == {"taxId": {"type": "string"}}
