"""The sandbox speaks Offload's documented API: routes, envelopes, error codes, curl."""

import json
import re
import shutil
import subprocess

import httpx
import pytest
from starlette.testclient import TestClient

from sandbox.app import create_app
from tests.helpers import ROOT, SANDBOX_KEY, ServerProcess, free_port, wait_until

# The user's quickstart: shared/ sits beside the repo; tests/data keeps a copy for clones
# that have no shared/ next to them.
SEED = next(
    p
    for p in (
        ROOT.parent / "shared" / "seed" / "offload-quickstart.txt",
        ROOT / "tests" / "data" / "offload-quickstart.txt",
    )
    if p.exists()
)
H = {"x-api-key": SANDBOX_KEY}


def minimal_case(**overrides):
    body = {
        "channel": "EMAIL",
        "goal": {"objective": "Collect a signed W-9"},
        "counterparty": {"address": "ap@northstar.example", "name": "Maya Chen"},
        "senderPersona": {"name": "Avery"},
    }
    body.update(overrides)
    return body


@pytest.fixture
def api():
    """The sandbox in-process, its clock stopped (one hour = 1000 s): tests step it by hand."""
    app = create_app(SANDBOX_KEY, hour_seconds=1000)
    with TestClient(app) as client:
        client.engine = app.state.engine
        yield client


def create(api, **overrides):
    r = api.post("/cases", json=minimal_case(**overrides), headers=H)
    assert r.status_code == 200, r.text
    return r.json()["data"]["caseId"]


def error_code(response):
    return response.status_code, response.json()["error"]["code"]


@pytest.mark.parametrize(
    "method, path, body, headers",
    [
        ("POST", "/cases", minimal_case(), {}),
        ("POST", "/cases", minimal_case(), {"x-api-key": "wrong"}),
        ("GET", "/cases/x", None, {}),
        ("POST", "/cases/x/input", {"inputRequestId": "a", "providedContext": "b"}, {}),
        ("GET", "/cases/x/attachments/y", None, {"x-api-key": ""}),
    ],
)
def test_missing_or_wrong_key_is_401(api, method, path, body, headers):
    r = api.request(method, path, json=body, headers=headers)
    assert error_code(r) == (401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    "body, field",
    [
        ({**minimal_case(), "channel": "FAX"}, "channel"),
        ({k: v for k, v in minimal_case().items() if k != "goal"}, "goal"),
        (minimal_case(goal={"objective": " "}), "goal.objective"),
        (minimal_case(goal={"objective": "x", "knowledge": 5}), "goal.knowledge"),
        (minimal_case(counterparty={"name": "x"}), "counterparty.address"),
        (
            minimal_case(counterparty={"address": "a@b", "name": "x", "customData": {"k": 1}}),
            "customData",
        ),
        (minimal_case(senderPersona={}), "senderPersona.name"),
        (minimal_case(maxAttempts=-1), "maxAttempts"),
        (minimal_case(maxAttempts="3"), "maxAttempts"),
        (minimal_case(followUpDelayHours=0), "followUpDelayHours"),
        (minimal_case(resultSchema=[]), "resultSchema"),
        (minimal_case(clientWebhookUrl="not a url"), "clientWebhookUrl"),
        (minimal_case(constraints="Email only"), "constraints"),
        (minimal_case(metadata="x"), "metadata"),
        (minimal_case(clientReferenceId=5), "clientReferenceId"),
    ],
)
def test_invalid_create_bodies_are_400_naming_the_field(api, body, field):
    r = api.post("/cases", json=body, headers=H)
    assert error_code(r) == (400, "INVALID_REQUEST")
    assert field in r.json()["error"]["message"]


def test_malformed_json_is_400(api):
    r = api.post("/cases", content=b"{nope", headers=H)
    assert error_code(r) == (400, "INVALID_REQUEST")


def test_unknown_case_and_attachment_are_404(api):
    assert error_code(api.get("/cases/nope", headers=H)) == (404, "CASE_NOT_FOUND")
    case_id = create(api)
    r = api.get(f"/cases/{case_id}/attachments/att_nope", headers=H)
    assert error_code(r) == (404, "ATTACHMENT_NOT_FOUND")


def test_get_shape_and_lifecycle_of_a_question(api):
    case_id = create(api, metadata={"sandboxScenario": "input_needed"}, clientReferenceId="v1")
    data = api.get(f"/cases/{case_id}", headers=H).json()["data"]
    assert data["status"] == "CREATED"
    assert "metadata" not in data and "conversationThread" not in data
    api.engine.run_next_step(case_id)  # outreach
    data = api.get(f"/cases/{case_id}?includeTranscript=true", headers=H).json()["data"]
    assert data["status"] == "RUNNING" and data["attemptCount"] == 1
    assert data["nextActionAt"] > data["updatedAt"]
    assert "Maya Chen" in data["conversationThread"]
    api.engine.run_next_step(case_id)  # the counterparty asks
    data = api.get(f"/cases/{case_id}", headers=H).json()["data"]
    assert data["status"] == "INPUT_NEEDED"
    assert data["nextActionAt"] == 253402300799999
    assert set(data["inputRequest"]) == {"id", "question", "status", "requestedAt"}
    assert data["inputRequest"]["status"] == "PENDING"


def test_input_409_codes_in_documented_order(api):
    case_id = create(api, metadata={"sandboxScenario": "input_needed"})
    url = f"/cases/{case_id}/input"
    answer = {"inputRequestId": "ir_x", "providedContext": "Yes"}
    api.engine.run_next_step(case_id)  # RUNNING
    assert error_code(api.post(url, json=answer, headers=H)) == (409, "CASE_NOT_WAITING_FOR_INPUT")
    api.engine.run_next_step(case_id)  # INPUT_NEEDED
    request_id = api.get(f"/cases/{case_id}", headers=H).json()["data"]["inputRequest"]["id"]
    assert error_code(api.post(url, json=answer, headers=H)) == (409, "INPUT_REQUEST_MISMATCH")
    assert (
        api.post(
            url, json={"inputRequestId": request_id, "providedContext": "  "}, headers=H
        ).status_code
        == 400
    )
    ok = api.post(
        url, json={"inputRequestId": request_id, "providedContext": " Yes, Monday. "}, headers=H
    )
    assert ok.status_code == 202
    assert ok.json() == {
        "ok": True,
        "data": {"caseId": case_id, "inputRequestId": request_id, "accepted": True},
    }
    data = api.get(f"/cases/{case_id}", headers=H).json()["data"]
    assert data["status"] == "INPUT_NEEDED" and data["inputRequest"]["status"] == "RESOLVED"
    assert data["goal"]["knowledge"]["additionalHumanContext"] == "Yes, Monday."
    second = api.post(url, json={"inputRequestId": request_id, "providedContext": "No"}, headers=H)
    assert error_code(second) == (409, "INPUT_REQUEST_NOT_PENDING")
    assert error_code(api.post(url, json=answer, headers=H)) == (409, "INPUT_REQUEST_MISMATCH")
    api.engine.run_next_step(case_id)  # resume
    assert error_code(
        api.post(url, json={"inputRequestId": request_id, "providedContext": "x"}, headers=H)
    ) == (409, "CASE_NOT_WAITING_FOR_INPUT")


def test_attachment_link_downloads_the_file(api):
    case_id = create(api)
    for _ in range(2):
        api.engine.run_next_step(case_id)
    data = api.get(f"/cases/{case_id}", headers=H).json()["data"]
    assert data["status"] == "COMPLETED"
    attachment = data["attachments"][0]
    link = api.get(f"/cases/{case_id}/attachments/{attachment['attachmentId']}", headers=H)
    link_data = link.json()["data"]
    assert link_data["expiresAt"].endswith("Z")
    assert {"name", "size", "type", "messageId", "inboxId", "receivedAt"} <= set(link_data)
    file = api.get(link_data["downloadUrl"].replace("http://testserver", ""))
    assert file.status_code == 200 and file.content.startswith(b"%PDF")
    assert len(file.content) == attachment["size"]


def _seed_curls() -> list[str]:
    text = SEED.read_text()
    commands = re.findall(
        r"(curl .*?)(?=\n(?:Successful|Accepted|GET /cases|Resume|$))", text, re.S
    )
    return [c.strip() for c in commands]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_seed_curl_commands_work_as_written(tmp_path):
    commands = _seed_curls()
    assert len(commands) == 3, commands
    server = ServerProcess(
        ["sandbox", "--api-key", SANDBOX_KEY, "--hour-seconds", "0.01"], env={"OFFLOAD_API_KEY": ""}
    ).start(free_port())
    env = {"OFFLOAD_BASE_URL": server.url, "OFFLOAD_API_KEY": SANDBOX_KEY, "PATH": "/usr/bin:/bin"}

    def sh(command: str) -> dict:
        out = subprocess.run(
            ["bash", "-c", command], env=env, capture_output=True, text=True, timeout=30
        )
        return json.loads(out.stdout)

    try:
        created = sh(commands[0])
        assert created["ok"] is True
        case_id = created["data"]["caseId"]
        got = sh(commands[2].replace("case_123", case_id))
        assert got["ok"] is True and got["data"]["clientReferenceId"] == "vendor_2048"
        # The resume command, against a case that asks a question.
        asking = commands[0].replace(
            '"clientReferenceId": "vendor_2048",',
            '"clientReferenceId": "vendor_2048", "metadata": {"sandboxScenario": "input_needed"},',
        )
        case_id = sh(asking)["data"]["caseId"]
        headers = {"x-api-key": SANDBOX_KEY}
        request = wait_until(
            lambda: httpx.get(f"{server.url}/cases/{case_id}", headers=headers).json()["data"][
                "inputRequest"
            ],
            message="question asked",
        )
        resumed = sh(
            commands[1].replace("case_123", case_id).replace("input-request-123", request["id"])
        )
        assert resumed == {
            "ok": True,
            "data": {"caseId": case_id, "inputRequestId": request["id"], "accepted": True},
        }
    finally:
        server.stop()


def test_kept_copy_of_the_quickstart_matches_shared():
    shared = ROOT.parent / "shared" / "seed" / "offload-quickstart.txt"
    if not shared.exists():
        pytest.skip("no shared/ beside this clone")
    assert shared.read_text() == (ROOT / "tests" / "data" / "offload-quickstart.txt").read_text()


def test_state_file_keeps_cases_across_a_restart(tmp_path):
    state = str(tmp_path / "sandbox.json")
    app = create_app(SANDBOX_KEY, hour_seconds=1000, state_file=state)
    with TestClient(app) as client:
        case_id = create(client, metadata={"sandboxScenario": "input_needed"})
        app.state.engine.run_next_step(case_id)
    again = create_app(SANDBOX_KEY, hour_seconds=1000, state_file=state)
    with TestClient(again) as client:
        data = client.get(f"/cases/{case_id}", headers=H).json()["data"]
        assert data["status"] == "RUNNING" and data["attemptCount"] == 1
        assert again.state.engine.run_next_step(case_id) == "reply"  # its step was rescheduled
        assert client.get(f"/cases/{case_id}", headers=H).json()["data"]["status"] == "INPUT_NEEDED"


def test_transcript_reads_as_the_counterparty_wrote(api):
    """Issue 12, smaller: the transcript said "Could we whether they can send…"."""
    case_id = create(api, metadata={"sandboxScenario": "input_needed"})
    api.engine.run_next_step(case_id)  # outreach
    api.engine.run_next_step(case_id)  # the counterparty asks
    thread = api.get(f"/cases/{case_id}?includeTranscript=true", headers=H).json()["data"][
        "conversationThread"
    ]
    assert "Could we send the W-9 next Monday instead?" in thread
    assert "Could we whether" not in thread


def test_the_consoles_scenario_names_are_exactly_the_ones_the_sandbox_runs(api):
    """Contract: the New case form offers offload_console.case_form.SANDBOX_SCENARIOS (the
    dashboard may not import the sandbox); each must reach the sandbox as that scenario."""
    from offload_console.case_form import SANDBOX_SCENARIOS
    from sandbox.engine import SCENARIOS

    assert tuple(SANDBOX_SCENARIOS) == tuple(SCENARIOS)
    for name in SANDBOX_SCENARIOS:
        case_id = create(api, metadata={"sandboxScenario": name})
        assert api.engine.cases[case_id].scenario == name


@pytest.mark.parametrize(
    "schema",
    [
        "W9",
        {
            "type": "object",
            "properties": {
                "vendor": {
                    "type": "object",
                    "properties": {
                        "email": {"type": "string", "format": "email"},
                        "since": {"type": "string", "format": "date"},
                        "employees": {"type": "integer", "minimum": 10},
                        "rating": {"type": ["null", "number"], "exclusiveMinimum": 0},
                    },
                },
                "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 2},
                "code": {"type": "string", "minLength": 40},
                "fixed": {"const": 7},
                "notes": {"type": "string"},
            },
        },
    ],
)
def test_the_sandboxs_own_results_satisfy_the_case_schema(schema):
    import jsonschema

    from offload_console.templates import W9_TEMPLATE
    from sandbox.results import result_for

    if schema == "W9":
        schema = W9_TEMPLATE["resultSchema"]
    result = result_for(schema, ["Yes, Monday is fine."])
    jsonschema.validate(result, schema)
    if "notes" in schema.get("properties", {}):
        assert result["notes"] == "Yes, Monday is fine."  # the customer's answer carried over


def test_a_case_without_a_schema_gets_a_summary():
    from sandbox.results import result_for

    assert result_for(None, []) == {"summary": "Goal achieved."}
