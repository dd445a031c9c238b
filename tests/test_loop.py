"""The whole loop over real HTTP: outbox → sandbox → webhooks → sidecar → SQLite → reconciler."""

import json

import httpx
import jsonschema
import pytest
import sqlite_utils

import storage
from offload_client import OffloadClient
from offload_client.models import TERMINAL_STATUSES
from offload_console.outbox import submit_case
from offload_console.templates import W9_TEMPLATE, w9_case
from reconciler import sync
from sandbox.engine import SCENARIOS
from tests.helpers import (
    SANDBOX_KEY,
    ServerProcess,
    free_port,
    run_cli,
    sandbox_env,
    wait_until,
)


def start_stack(db_path, drop_webhooks=0.0):
    sidecar = ServerProcess(
        ["sidecar", "--db", db_path, "--reconcile-every", "0"], env={"OFFLOAD_WEBHOOK_TOKEN": ""}
    ).start(free_port())
    sandbox = ServerProcess(
        [
            "sandbox",
            "--api-key",
            SANDBOX_KEY,
            "--hour-seconds",
            "0.01",
            "--drop-webhooks",
            str(drop_webhooks),
        ],
    ).start(free_port())
    return sidecar, sandbox


@pytest.fixture
def stack(db_path, monkeypatch):
    sidecar, sandbox = start_stack(db_path)
    monkeypatch.setenv("OFFLOAD_PUBLIC_WEBHOOK_URL", f"{sidecar.url}/webhooks/offload")
    yield sidecar, sandbox
    sandbox.stop()
    sidecar.stop()


@pytest.fixture
def dropping_stack(db_path, monkeypatch):
    sidecar, sandbox = start_stack(db_path, drop_webhooks=1.0)
    monkeypatch.setenv("OFFLOAD_PUBLIC_WEBHOOK_URL", f"{sidecar.url}/webhooks/offload")
    yield sidecar, sandbox
    sandbox.stop()
    sidecar.stop()


def client_for(sandbox, **kw):
    return OffloadClient(sandbox.url, SANDBOX_KEY, **kw)


def case_row(db_path, case_id):
    rows = list(
        sqlite_utils.Database(db_path).query("SELECT * FROM cases WHERE case_id = ?", [case_id])
    )
    return rows[0] if rows else None


def pending_request(db_path, case_id):
    rows = list(
        sqlite_utils.Database(db_path).query(
            "SELECT * FROM input_requests WHERE case_id = ? AND status = 'PENDING'", [case_id]
        )
    )
    return rows[0] if rows else None


def test_seed_flow_end_to_end(stack, db_path):
    sidecar, sandbox = stack
    db = storage.open_db(db_path)
    body = w9_case(
        "vendor_2048",
        "Northstar Supplies",
        "Maya Chen",
        "ap@northstar.example",
        "America/Los_Angeles",
        "input_needed",
    )
    with client_for(sandbox) as client:
        result = submit_case(db, client, body, actor="alice")
        assert result.status == "SENT"
        audit_row = next(db.query("SELECT * FROM audit_log WHERE action = 'case.sent'"))
        assert (audit_row["operator"], audit_row["case_id"]) == ("alice", result.case_id)
        row = case_row(db_path, result.case_id)  # there before any webhook
        assert row["client_reference_id"] == "vendor_2048"
        assert json.loads(row["request"])["metadata"]["consoleSubmissionId"] == result.submission_id
        request = wait_until(lambda: pending_request(db_path, result.case_id), message="question")
        assert "W-9" in request["question"]
        client.provide_input(result.case_id, request["input_request_id"], "Yes, Monday is fine.")
    row = wait_until(
        lambda: (r := case_row(db_path, result.case_id)) and r["status"] == "COMPLETED" and r,
        message="completed",
    )
    assert row["result_status"] == "goal_achieved"
    jsonschema.validate(json.loads(row["result"]), W9_TEMPLATE["resultSchema"])
    assert pending_request(db_path, result.case_id) is None
    sources = {r["source"] for r in sqlite_utils.Database(db_path)["events"].rows}
    assert sources == {"console", "webhook"}


def _drive_to_end(client, db_path, case_ids):
    """Answer every question as it comes until each case is terminal in Offload."""

    def step():
        done = 0
        for case_id in case_ids:
            state = client.get_case(case_id)
            if state.status in TERMINAL_STATUSES:
                done += 1
            elif state.input_request and state.input_request.status == "PENDING":
                try:
                    client.provide_input(case_id, state.input_request.id, "Yes, go ahead.")
                except Exception:  # noqa: BLE001 - a race with the worker; the next loop sees it
                    pass
        return done == len(case_ids)

    wait_until(step, timeout=10, interval=0.05, message="every scenario ends within 10 s")


def test_every_scenario_through_the_cli_reaches_its_end(stack, db_path, tmp_path):
    sidecar, sandbox = stack
    case_file = tmp_path / "case.json"
    case_file.write_text(json.dumps(W9_TEMPLATE))
    env = {
        **sandbox_env(sandbox.url),
        "OFFLOAD_CONSOLE_DB": db_path,
        "OFFLOAD_PUBLIC_WEBHOOK_URL": f"{sidecar.url}/webhooks/offload",
    }

    case_ids = {}
    for scenario in SCENARIOS:
        out = run_cli("create", str(case_file), "--scenario", scenario, env=env)
        assert out.returncode == 0, out.stderr
        case_ids[scenario] = out.stdout.strip()
    with client_for(sandbox) as client:
        _drive_to_end(client, db_path, list(case_ids.values()))
    expected = {
        "complete": ("COMPLETED", "goal_achieved"),
        "input_needed": ("COMPLETED", "goal_achieved"),
        "two_questions": ("COMPLETED", "goal_achieved"),
        "max_retries": ("FAILED", "max_retries"),
        "bounced": ("FAILED", "BOUNCED"),
        "rejected": ("FAILED", "failed_rejected"),
    }
    for scenario, case_id in case_ids.items():
        row = wait_until(
            lambda cid=case_id: (r := case_row(db_path, cid)) and r["state_rank"] == 1 and r,
            message=f"{scenario} terminal in the console",
        )
        assert (row["status"], row["result_status"]) == expected[scenario], scenario
    assert case_row(db_path, case_ids["max_retries"])["attempt_count"] == 4  # 1 + 3 follow-ups
    questions = list(
        sqlite_utils.Database(db_path).query(
            "SELECT count(*) AS n FROM input_requests WHERE case_id = ?",
            [case_ids["two_questions"]],
        )
    )
    assert questions[0]["n"] == 2


def test_dropped_webhooks_are_repaired_by_one_sync(dropping_stack, db_path):
    sidecar, sandbox = dropping_stack
    db = storage.open_db(db_path)
    with client_for(sandbox) as client:
        case_ids = {}
        for scenario in SCENARIOS:
            body = {**W9_TEMPLATE, "metadata": {"sandboxScenario": scenario}}
            case_ids[scenario] = submit_case(db, client, body, actor="t").case_id

        def settled():  # every case terminal or waiting on a question, in Offload
            states = [client.get_case(c) for c in case_ids.values()]
            return all(s.status in TERMINAL_STATUSES or s.status == "INPUT_NEEDED" for s in states)

        wait_until(settled, timeout=10, interval=0.05, message="scenarios settled")
        assert {r["status"] for r in db.query("SELECT status FROM cases")} == {"CREATED"}
        report = sync(db, client)
        assert report.errors == [] and report.changed == len(SCENARIOS)
        for scenario, case_id in case_ids.items():
            truth = client.get_case(case_id)
            row = case_row(db_path, case_id)
            assert row["status"] == truth.status, scenario
            assert row["result_status"] == truth.result_status
            assert row["attempt_count"] == truth.attempt_count
            if truth.status == "INPUT_NEEDED":
                assert pending_request(db_path, case_id)["input_request_id"] == (
                    truth.input_request.id
                )
        events_before = db["events"].count
        again = sync(db, client)
        assert again.changed == 0 and db["events"].count == events_before
        # Answer the questions; the next sync closes them and records the completions.
        _drive_to_end(client, db_path, list(case_ids.values()))
        sync(db, client)
        for case_id in case_ids.values():
            assert case_row(db_path, case_id)["state_rank"] == 1
        assert (
            db.execute("SELECT count(*) FROM input_requests WHERE status = 'PENDING'").fetchone()[0]
            == 0
        )


class LoseTheAnswer(httpx.BaseTransport):
    """Forwards POST /cases to the real server, then pretends the answer never came."""

    def __init__(self):
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request):
        response = self.inner.handle_request(request)
        response.read()
        if request.method == "POST" and request.url.path == "/cases":
            raise httpx.ReadTimeout("lost", request=request)
        return response


def test_unknown_submission_resolves_from_a_later_webhook(stack, db_path):
    sidecar, sandbox = stack
    db = storage.open_db(db_path)
    with OffloadClient(sandbox.url, SANDBOX_KEY, transport=LoseTheAnswer()) as client:
        result = submit_case(db, client, W9_TEMPLATE, actor="t")
    assert result.status == "UNKNOWN"
    assert "outcome unknown" in result.message
    row = wait_until(
        lambda: (s := db["submissions"].get(result.submission_id))["status"] == "SENT" and s,
        message="submission settled by webhook",
    )
    assert case_row(db_path, row["case_id"])["status"] == "COMPLETED"
    assert db["cases"].count == 1


def test_same_submission_id_twice_makes_one_case(stack, db_path):
    sidecar, sandbox = stack
    db = storage.open_db(db_path)
    with client_for(sandbox) as client:
        first = submit_case(db, client, W9_TEMPLATE, actor="t", submission_id="sub_fixed")
        second = submit_case(db, client, W9_TEMPLATE, actor="t", submission_id="sub_fixed")
        assert second.duplicate and second.case_id == first.case_id
    assert db["submissions"].count == 1
    assert httpx.get(f"{sandbox.url}/healthz").json()["cases"] == 1


def test_offload_refusal_marks_submission_failed_with_code(stack, db_path):
    sidecar, sandbox = stack
    db = storage.open_db(db_path)
    with client_for(sandbox) as client:
        result = submit_case(db, client, {**W9_TEMPLATE, "channel": "FAX"}, actor="t")
    assert result.status == "FAILED"
    row = db["submissions"].get(result.submission_id)
    assert (row["error_status"], row["error_code"]) == (400, "INVALID_REQUEST")
    assert "channel" in row["error_message"]
    assert db["cases"].count == 0


def test_webhook_token_is_never_stored_but_reaches_offload(db_path, monkeypatch):
    """Issue 13, defect 10: the token is masked in submissions, cases and events; the POST
    carries the real URL, so the sandbox's webhook reaches the sidecar's secret path."""
    token = "t0k3n-" + "x" * 40
    sidecar = ServerProcess(
        ["sidecar", "--db", db_path, "--reconcile-every", "0"],
        env={"OFFLOAD_WEBHOOK_TOKEN": token},
    ).start(free_port())
    sandbox = ServerProcess(["sandbox", "--api-key", SANDBOX_KEY, "--hour-seconds", "0.01"])
    sandbox.start(free_port())
    try:
        monkeypatch.delenv("OFFLOAD_PUBLIC_WEBHOOK_URL", raising=False)
        monkeypatch.setenv("OFFLOAD_WEBHOOK_TOKEN", token)
        monkeypatch.setenv("OFFLOAD_CONSOLE_SIDECAR_PORT", str(sidecar.port))
        db = storage.open_db(db_path)
        with OffloadClient(sandbox.url, SANDBOX_KEY) as client:
            case_id = submit_case(db, client, W9_TEMPLATE, actor="t").case_id
        wait_until(
            lambda: db.execute(
                "SELECT count(*) FROM events WHERE case_id = ? AND source = 'webhook'", [case_id]
            ).fetchone()[0],
            timeout=30,
            message="the webhook reached the token path",
        )
        for table in ("submissions", "cases", "events", "audit_log"):
            for row in db[table].rows:
                assert token not in json.dumps(row), f"{table} holds the token"
        sent = json.loads(next(db["submissions"].rows)["request"])
        assert sent["clientWebhookUrl"].endswith("/webhooks/offload/•••")
    finally:
        sandbox.stop()
        sidecar.stop()
