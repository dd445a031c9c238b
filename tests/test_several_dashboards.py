"""docs/several-machines.md's one-box walk-through in Chromium: one PostgreSQL, one sandbox, two
sidecars and two dashboards started as the page says (on free ports). Operators answer from
both dashboards; a race between them for one question sends one answer; Health lists every
instance. Checked on what reached the sandbox and the database."""

from __future__ import annotations

import httpx
import pytest

import storage
from offload_client import OffloadClient
from offload_console.outbox import submit_case
from offload_console.templates import W9_TEMPLATE
from tests.browser import (
    SERVER_WAIT_MS,
    click_when_drawn,
    commit_text,
    needs_chromium,
    send_confirming_if_asked,
    wait_ready,
)
from tests.helpers import ServerProcess, free_port, wait_until
from tests.test_inbox_queue import queue_ids

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]
KEY = "sandbox-local-key"


@pytest.fixture
def one_box(postgres):
    url = postgres.new_database(postgres.template)
    started = []

    def start(args, port, **kwargs):
        server = ServerProcess(args, **kwargs)
        started.append(server)
        return server.start(port, timeout=90)

    try:
        sandbox = start(["sandbox", "--api-key", KEY, "--hour-seconds", "0.01"], free_port())
        hooks = [free_port(), free_port()]
        env = {
            "OFFLOAD_CONSOLE_DB": url,
            "OFFLOAD_BASE_URL": sandbox.url,
            "OFFLOAD_API_KEY": KEY,
            "OFFLOAD_CONSOLE_MODE": "sandbox",
            "OFFLOAD_WEBHOOK_TOKEN": "",
            "OFFLOAD_PUBLIC_WEBHOOK_URL": f"http://127.0.0.1:{hooks[0]}/webhooks/offload",
        }
        for port in hooks:
            start(["sidecar", "--reconcile-every", "1"], port, env=env)
        dashboards = [
            start(
                ["dashboard"],
                free_port(),
                env={**env, "OFFLOAD_CONSOLE_SIDECAR_PORT": str(port)},
                health_path="/_stcore/health",
            )
            for port in hooks
        ]
        db = storage.open_db(url)
        with OffloadClient(sandbox.url, KEY) as client:
            for n in range(4):
                body = {
                    **W9_TEMPLATE,
                    "clientReferenceId": f"two-{n}",
                    "clientWebhookUrl": env["OFFLOAD_PUBLIC_WEBHOOK_URL"],
                    "metadata": {"sandboxScenario": "input_needed"},
                }
                assert submit_case(db, client, body, actor="setup").status == "SENT"
        wait_until(lambda: pending(db) == 4, 90, 0.3, message="four questions waiting")
        yield {"db": db, "sandbox": sandbox, "dashboards": [d.url for d in dashboards]}
        db.conn.close()
    finally:
        for server in reversed(started):
            server.stop()


def pending(db) -> int:
    return db.execute("SELECT count(*) FROM input_requests WHERE status = 'PENDING'").fetchone()[0]


def answers_at_the_sandbox(one_box) -> list[dict]:
    response = httpx.get(one_box["sandbox"].url + "/_sandbox/answers", headers={"x-api-key": KEY})
    return response.json()["data"]


def open_inbox(context, url: str, name: str):
    page = context.new_page()
    page.goto(url)
    wait_ready(page)
    commit_text(page, ".st-key-operator_name input", name)
    wait_until(lambda: len(queue_ids(page)) >= 1, SERVER_WAIT_MS / 1000, 0.3, "the queue")
    return page


def open_question(page, request_id: str) -> None:
    click_when_drawn(page, f".st-key-open_{request_id} button")
    wait_until(
        lambda: wait_ready(page) or page.locator(f".st-key-send_{request_id}").count(),
        SERVER_WAIT_MS / 1000,
        0.2,
        "the question open",
    )


def answer(page, request_id: str, text: str) -> None:
    open_question(page, request_id)
    commit_text(page, f".st-key-answer_{request_id} textarea", text)
    click_when_drawn(page, f".st-key-send_{request_id} button")


def test_two_dashboards_on_one_postgresql_answer_questions_once_each(browser, one_box, tmp_path):
    contexts = [browser.new_context(viewport={"width": 1280, "height": 900}) for _ in range(3)]
    try:
        check(contexts, one_box, tmp_path)
    finally:
        for context in contexts:
            context.close()


def check(contexts, one_box, tmp_path) -> None:
    avery = open_inbox(contexts[0], one_box["dashboards"][0], "Avery")
    blake = open_inbox(contexts[1], one_box["dashboards"][1], "Blake")
    assert sorted(queue_ids(avery)) == sorted(queue_ids(blake))  # one Inbox, two machines
    first, second, raced = sorted(queue_ids(avery))[:3]

    answer(avery, first, "Avery, from dashboard one")
    avery.wait_for_selector("text=Answer sent by Avery", timeout=SERVER_WAIT_MS)
    answer(blake, second, "Blake, from dashboard two")
    blake.wait_for_selector("text=Answer sent by Blake", timeout=SERVER_WAIT_MS)
    # Both open the same question, each on their own dashboard; Blake types a draft; Avery
    # sends. Blake's dashboard redraws by itself: answered by Avery, the draft kept, unsent.
    open_question(blake, raced)
    commit_text(blake, f".st-key-answer_{raced} textarea", "Blake's draft")
    open_question(avery, raced)
    commit_text(avery, f".st-key-answer_{raced} textarea", "Avery wins the race")
    # Blake's typing reaches Avery's dashboard through the database: Avery is asked first
    # (unless 8 s have passed on a loaded machine), and sends anyway.
    send_confirming_if_asked(avery, raced, "Avery wins the race")
    blake.wait_for_selector("text=Answered by Avery", timeout=SERVER_WAIT_MS)
    blake.screenshot(path=str(tmp_path / "dashboard-two.png"))

    sent = answers_at_the_sandbox(one_box)
    assert sorted(a["inputRequestId"] for a in sent) == sorted([first, second, raced])
    assert {a["inputRequestId"]: a["providedContext"] for a in sent} == {
        first: "Avery, from dashboard one",
        second: "Blake, from dashboard two",
        raced: "Avery wins the race",
    }
    rows = (
        one_box["db"]
        .execute(
            "SELECT input_request_id, answered_by FROM input_requests"
            " WHERE answered_by IS NOT NULL ORDER BY 1"
        )
        .fetchall()
    )
    assert dict(rows) == {first: "Avery", second: "Blake", raced: "Avery"}

    health = contexts[2].new_page()
    health.goto(one_box["dashboards"][1] + "/health")
    wait_ready(health)
    main = health.locator('[data-testid="stMain"]')
    wait_until(
        lambda: main.inner_text().count("Sidecar on ") == 2,
        SERVER_WAIT_MS / 1000,
        0.3,
        "two sidecars listed",
    )
    assert main.inner_text().count("Dashboard on ") == 2
    health.screenshot(path=str(tmp_path / "health.png"), full_page=True)
