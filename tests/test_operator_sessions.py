"""Operators in real browsers (Playwright + Debian's Chromium) against `offload-console up`:
two at once, reloads, double clicks, someone acting between a tick and a send. After every
step the invariants are checked on what reached the sandbox and the database, not only on
the screen."""

import json
import re
from collections import Counter

import httpx
import pytest

import storage
from offload_console.templates import W9_TEMPLATE
from tests.browser import (
    SERVER_WAIT_MS,
    click_when_drawn,
    commit_text,
    needs_chromium,
    running_stack,
    wait_ready,
)
from tests.helpers import run_cli, wait_until

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("sessions")) as running:
        yield running


@pytest.fixture(scope="module")
def typed() -> dict[str, set[str]]:
    """For each input request, every answer an operator typed for it (in its card, or in the
    bulk box with it ticked), over every test on this stack."""
    return {}


@pytest.fixture
def contexts(browser):
    opened = []

    def new():
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        opened.append(context)
        return context

    yield new
    for context in opened:
        context.close()


def create_cases(stack, n: int, tag: str) -> list[str]:
    """``n`` input_needed cases, referenced ``{tag}-1``…; returns their case ids, waits until
    each question is PENDING in the console."""
    case_ids = []
    for i in range(1, n + 1):
        body = {**W9_TEMPLATE, "clientReferenceId": f"{tag}-{i}"}
        path = stack["tmp"] / f"{tag}-{i}.json"
        path.write_text(json.dumps(body))
        out = run_cli("create", str(path), "--scenario", "input_needed", base_env=stack["env"])
        assert out.returncode == 0, out.stderr
        case_ids.append(out.stdout.strip())
    db = storage.open_db(stack["db"])
    wait_until(
        lambda: len(pending_of(db, case_ids)) == n, timeout=60, interval=0.3, message="questions"
    )
    return case_ids


def pending_of(db, case_ids) -> list[str]:
    """The case's pending request ids, oldest question first."""
    marks = ",".join("?" for _ in case_ids)
    return [
        r[0]
        for r in db.execute(
            "SELECT input_request_id FROM input_requests WHERE status = 'PENDING'"
            f" AND case_id IN ({marks}) ORDER BY requested_at, input_request_id",
            case_ids,
        )
    ]


def sandbox_answers(stack) -> list[dict]:
    r = httpx.get(
        stack["sandbox"] + "/_sandbox/answers", headers={"x-api-key": "sandbox-local-key"}
    )
    return r.json()["data"]


def check_invariants(stack, pages, typed: dict[str, set[str]]) -> None:
    """``typed``: for each input request, the answers operators typed for it (in its card, or
    in the bulk box with it ticked)."""
    answers = sandbox_answers(stack)
    for answer in answers:
        assert answer["providedContext"] in typed.get(answer["inputRequestId"], set()), answer
    accepted = Counter(a["inputRequestId"] for a in answers if a["status"] == 202)
    assert all(n == 1 for n in accepted.values()), accepted
    posted = Counter(a["inputRequestId"] for a in answers)
    assert all(n == 1 for n in posted.values()), f"an answer was posted twice: {posted}"
    db = storage.open_db(stack["db"])
    blank = db.execute(
        "SELECT count(*) FROM audit_log WHERE operator IS NULL OR trim(operator) = ''"
    ).fetchone()[0]
    assert blank == 0
    for page in pages:
        assert page.locator('[data-testid="stException"]').count() == 0
        assert "Traceback" not in page.locator("body").inner_text()


def open_inbox(context, stack, name: str | None):
    page = context.new_page()
    page.goto(stack["dashboard"] + "/")
    wait_ready(page)
    if name:
        commit_text(page, ".st-key-operator_name input", name)
    return page


def show_questions(page, request_ids):
    """The inbox refreshes itself; reloading only makes the test quicker."""

    def visible():
        if all(page.locator(f".st-key-open_{r} button").count() for r in request_ids):
            return True
        page.reload()
        wait_ready(page)
        return False

    wait_until(
        visible, timeout=SERVER_WAIT_MS / 1000, interval=0.5, message="questions in the inbox"
    )


def open_question(page, request_id: str) -> None:
    """Select a question in the queue: its answer box shows in the pane beside it."""
    click_when_drawn(page, f".st-key-open_{request_id} button")
    wait_until(
        lambda: wait_ready(page) or page.locator(f".st-key-send_{request_id} button").count() == 1,
        timeout=SERVER_WAIT_MS / 1000,
        interval=0.2,
        message="the question's answer box",
    )


def nav_count(page) -> int:
    text = page.locator('[data-testid="stSidebarNav"]').inner_text()
    return int(re.search(r"Inbox \((\d+)\)", text).group(1))


def waiting_count(page) -> int:
    text = page.locator('[data-testid="stMain"]').inner_text()
    match = re.search(r"(\d+) waiting", text)
    return int(match.group(1)) if match else 0


def test_bulk_answer_goes_only_to_ticked_questions_still_waiting(contexts, stack, typed):
    """Defects 1 and 2 in two browsers: Avery ticks the 1st and 2nd of 4 identical
    questions; Blake answers the 1st; Avery sends: only the 2nd gets Avery's answer."""
    case_ids = create_cases(stack, 4, "bulk")
    first, second, third, fourth = pending_of(storage.open_db(stack["db"]), case_ids)
    avery = open_inbox(contexts(), stack, "Avery")
    blake = open_inbox(contexts(), stack, "Blake")
    for page in (avery, blake):
        show_questions(page, [first])
    for request_id in (first, second):
        avery.locator(f".st-key-bulk_pick_{request_id} label").click()
        wait_ready(avery)
    # Blake answers the oldest between Avery's tick and send.
    typed |= {first: {"Blake: yes"}, second: {"Avery: yes to all"}}  # before anything is sent
    open_question(blake, first)
    commit_text(blake, f".st-key-answer_{first} textarea", "Blake: yes")
    blake.locator(f".st-key-send_{first} button").click()
    blake.wait_for_selector("text=Answer sent", timeout=SERVER_WAIT_MS)
    commit_text(avery, ".st-key-bulk_answer textarea", "Avery: yes to all")
    main = avery.locator('[data-testid="stMain"]')
    wait_until(  # the live Inbox redraws when Blake's answer lands; a loaded machine is slow
        lambda: "already answered by Blake" in main.inner_text(),
        timeout=SERVER_WAIT_MS / 1000,
        interval=0.3,
        message="the dropped question named",
    )
    assert "bulk-2" in main.inner_text()
    avery.locator(".st-key-bulk_send button").click()
    avery.wait_for_selector("text=Sent to 1 question of 1", timeout=SERVER_WAIT_MS)
    wait_ready(avery)
    check_invariants(stack, [avery, blake], typed)
    answered = {a["inputRequestId"] for a in sandbox_answers(stack)}
    assert {first, second} <= answered and not {third, fourth} & answered
    # After the send: the selection is clear, no Send button to press twice, no error page.
    assert avery.locator(".st-key-bulk_send").count() == 0
    assert avery.locator(f".st-key-bulk_pick_{second}").count() == 0
    avery.reload()
    wait_ready(avery)
    check_invariants(stack, [avery, blake], typed)


def test_double_click_reload_and_two_tabs_send_one_answer(contexts, stack, typed):
    """A double click sends once; the same operator in two tabs sends once; the name is
    remembered across a reload and a new tab (defect 5)."""
    case_ids = create_cases(stack, 2, "tabs")
    one, two = pending_of(storage.open_db(stack["db"]), case_ids)
    context = contexts()
    tab1 = open_inbox(context, stack, "Casey")
    tab1.reload()
    wait_ready(tab1)
    tab2 = open_inbox(context, stack, None)  # a new tab of the same browser
    for page in (tab1, tab2):
        wait_until(
            lambda page=page: page.locator(".st-key-operator_name input").input_value() == "Casey",
            timeout=SERVER_WAIT_MS / 1000,
            interval=0.2,
            message="the name remembered",
        )
    for page in (tab1, tab2):
        show_questions(page, [one, two])
    typed |= {one: {"Casey: double click"}, two: {"Casey: two tabs"}}  # before anything is sent
    open_question(tab1, one)
    commit_text(tab1, f".st-key-answer_{one} textarea", "Casey: double click")
    tab1.locator(f".st-key-send_{one} button").dblclick()
    tab1.wait_for_selector("text=Answer sent", timeout=SERVER_WAIT_MS)
    for page in (tab1, tab2):
        open_question(page, two)
        commit_text(page, f".st-key-answer_{two} textarea", "Casey: two tabs")
    buttons = [p.locator(f".st-key-send_{two} button") for p in (tab1, tab2)]
    for button in buttons:  # as close together as two clicks get
        button.click(no_wait_after=True)
    wait_until(
        lambda: (
            "Answer sent"
            in " ".join(p.locator('[data-testid="stMain"]').inner_text() for p in (tab1, tab2))
        ),
        timeout=SERVER_WAIT_MS / 1000,
        interval=0.3,
        message="one tab says it sent the answer",
    )
    for page in (tab1, tab2):
        wait_ready(page)
    check_invariants(stack, [tab1, tab2], typed)
    db = storage.open_db(stack["db"])
    operators = {r[0] for r in db.execute("SELECT operator FROM audit_log")}
    assert "Casey" in operators


def test_timeline_answer_and_nav_count_follow_the_inbox(contexts, stack, typed):
    """Defects 9 and 7: answer from the case timeline; the Inbox's nav count agrees with its
    own count after its refresh, without a reload."""
    (case_id,) = create_cases(stack, 1, "timeline")
    (request_id,) = pending_of(storage.open_db(stack["db"]), [case_id])
    watcher = open_inbox(contexts(), stack, "Drew")
    show_questions(watcher, [request_id])
    before = wait_until(  # the nav and the page agree once a redraw has settled
        lambda: waiting_count(watcher) == nav_count(watcher) and waiting_count(watcher),
        timeout=SERVER_WAIT_MS / 1000,
        interval=0.3,
        message="nav and page counts agree",
    )
    page = contexts().new_page()
    page.goto(f"{stack['dashboard']}/case?case={case_id}")
    wait_ready(page)
    commit_text(page, ".st-key-operator_name input", "Eli")
    typed[request_id] = {"Eli: from the timeline"}  # before anything is sent
    commit_text(page, f".st-key-answer_{request_id} textarea", "Eli: from the timeline")
    page.locator(f".st-key-send_{request_id} button").click()
    page.wait_for_selector("text=Answer sent", timeout=SERVER_WAIT_MS)
    check_invariants(stack, [page, watcher], typed)
    # The watcher's Inbox refreshes itself (every 10 s) and its nav follows.
    wait_until(
        lambda: waiting_count(watcher) == before - 1 and nav_count(watcher) == before - 1,
        timeout=SERVER_WAIT_MS / 1000,
        interval=0.5,
        message=lambda: (
            f"inbox and nav counts both follow the answer (before {before}; now the page says "
            f"{waiting_count(watcher)}, the nav {nav_count(watcher)})"
        ),
    )
    check_invariants(stack, [page, watcher], typed)


@pytest.fixture(scope="module")
def slow_stack(tmp_path_factory):
    """A stack whose Offload (the sandbox) takes 2 s over every answer."""
    with running_stack(
        tmp_path_factory.mktemp("slow"), extra_env={"OFFLOAD_SANDBOX_ANSWER_DELAY_S": "2"}
    ) as running:
        yield running


@pytest.mark.parametrize("gap_ms", [250, 1000])
def test_send_clicked_again_while_offload_is_slow_posts_once(contexts, slow_stack, gap_ms):
    """Issue 23, defect 1 in Chromium (on the main before it: 202 then 409 for each, and the
    page ended on "no longer waiting"). Send, and Send again 0.25 s or 1 s later, while
    Offload takes 2 s: one POST reaches Offload, the answer is recorded once, and the page
    says it was sent."""
    [case_id] = create_cases(slow_stack, 1, f"slow-{gap_ms}")
    db = storage.open_db(slow_stack["db"])
    [request_id] = pending_of(db, [case_id])
    page = open_inbox(contexts(), slow_stack, "Avery")
    show_questions(page, [request_id])
    open_question(page, request_id)
    text = f"slow answer after {gap_ms} ms"
    commit_text(page, f".st-key-answer_{request_id} textarea", text)
    send = page.locator(f".st-key-send_{request_id} button")
    send.click()
    page.wait_for_timeout(gap_ms)  # the operator's second click, this long after the first
    send.click(timeout=10_000)
    wait_until(
        lambda: db["input_requests"].get(request_id)["answered_at"],
        timeout=60,
        interval=0.2,
        message="the answer recorded",
    )
    page.wait_for_selector("text=Answer sent", timeout=60_000)
    posted = [a for a in sandbox_answers(slow_stack) if a["inputRequestId"] == request_id]
    assert [(a["status"], a["providedContext"]) for a in posted] == [(202, text)]
    row = db["input_requests"].get(request_id)
    assert (row["answer"], row["answered_by"], row["send_state"]) == (text, "Avery", None)
    assert "no longer waiting" not in page.locator('[data-testid="stMain"]').inner_text()
    sent = [
        r for r in db["audit_log"].rows_where("action = 'answer.sent'") if r["target"] == request_id
    ]
    assert len(sent) == 1
