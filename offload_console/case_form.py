"""The New case form as plain data: validation, the body it makes, placeholders, curl.

The page keeps the form as a dict of field values (``FIELDS``); ``build_body`` turns it into
the ``POST /cases`` body and a dict of problems keyed by field, so each message shows at its
field. Nothing here touches Streamlit.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse
from zoneinfo import available_timezones

from offload_console.schema_tools import schema_problems
from storage.events import parse_window_ms

# How the local sandbox's counterparty behaves (``metadata.sandboxScenario``). The sandbox is
# a separate program; tests/test_sandbox.py checks these are exactly the names it accepts.
SANDBOX_SCENARIOS = (
    "complete",
    "input_needed",
    "two_questions",
    "max_retries",
    "bounced",
    "rejected",
)

EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\- ]+?)\s*\}\}")
TIMEZONES = sorted(available_timezones())

DEFAULTS: dict[str, Any] = {
    "client_reference_id": "",
    "channel": "EMAIL",
    "max_attempts": "3",
    "follow_up_delay_hours": "72",
    "objective": "",
    "knowledge_mode": "table",
    "knowledge_rows": [],
    "knowledge_text": "",
    "cp_address": "",
    "cp_name": "",
    "cp_company": "",
    "cp_timezone": None,
    "cp_custom": [],
    "sp_name": "",
    "sp_role": "",
    "sp_company": "",
    "sp_tone": "",
    "constraints": "",
    "metadata": "",
    "result_schema": None,
    "webhook_url": "",
    "scenario": None,
    "answer_within": "",
}


# What each form field is called on the page (problems are keyed by field).
FIELD_LABELS = {
    "client_reference_id": "Client reference",
    "objective": "Objective",
    "knowledge": "Knowledge",
    "cp_address": "Counterparty address",
    "cp_name": "Counterparty name",
    "cp_timezone": "Time zone",
    "cp_custom": "Custom data",
    "sp_name": "Sender name",
    "max_attempts": "Follow-ups",
    "follow_up_delay_hours": "Hours between follow-ups",
    "metadata": "Metadata",
    "result_schema": "Result schema",
    "webhook_url": "Webhook URL",
    "channel": "Channel",
    "placeholders": "Placeholders",
    "answer_within": "Answer within",
}


def _rows_to_map(rows: list[dict]) -> tuple[dict[str, str], list[str]]:
    out: dict[str, str] = {}
    problems = []
    for row in rows or []:
        key = str(row.get("key") or "").strip()
        value = row.get("value")
        if not key and (value is None or str(value).strip() == ""):
            continue
        if not key:
            problems.append("every value needs a key")
            continue
        if key in out:
            problems.append(f"key {key!r} appears twice")
        out[key] = "" if value is None else str(value)
    return out, list(dict.fromkeys(problems))  # each problem once


def whole_number(value: Any) -> int | None:
    """``value`` as a whole number if it is exactly one (``"3"``, ``3``, ``3.0``), else None:
    ``"2.5"``, ``"-"``, ``"3 days"`` and ``True`` are not."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]+\s*", value):
        return int(value)
    return None


def build_body(form: dict) -> tuple[dict, dict[str, str]]:
    """The POST /cases body the form describes, and its problems by field."""
    f = {**DEFAULTS, **form}
    errors: dict[str, str] = {}
    body: dict[str, Any] = {"channel": f["channel"]}
    if f["channel"] not in ("EMAIL", "SMS"):
        errors["channel"] = "Choose EMAIL or SMS."
    if str(f["client_reference_id"]).strip():
        body["clientReferenceId"] = str(f["client_reference_id"]).strip()
    for key, form_key, minimum in (
        ("maxAttempts", "max_attempts", 0),
        ("followUpDelayHours", "follow_up_delay_hours", 1),
    ):
        value = whole_number(f[form_key])
        if value is None or value < minimum:
            shown = str(f[form_key]).strip()
            wanted = (
                "A whole number, 0 or more"
                if minimum == 0
                else "A whole number of hours, 1 or more"
            )
            errors[form_key] = f"{wanted}; {shown!r} is not." if shown else f"{wanted}."
        else:
            body[key] = value
    goal: dict[str, Any] = {"objective": str(f["objective"]).strip()}
    if not goal["objective"]:
        errors["objective"] = "Say what the case should achieve."
    if f["knowledge_mode"] == "text":
        if str(f["knowledge_text"]).strip():
            goal["knowledge"] = str(f["knowledge_text"]).strip()
    else:
        knowledge, problems = _rows_to_map(f["knowledge_rows"])
        if problems:
            errors["knowledge"] = "; ".join(problems)
        if knowledge:
            goal["knowledge"] = knowledge
    body["goal"] = goal
    address = str(f["cp_address"]).strip()
    counterparty: dict[str, Any] = {"address": address, "name": str(f["cp_name"]).strip()}
    if not address:
        errors["cp_address"] = "Where should Offload write? An e-mail address for EMAIL."
    elif f["channel"] == "EMAIL" and not EMAIL.match(address):
        errors["cp_address"] = "This is not an e-mail address (name@example.com)."
    if not counterparty["name"]:
        errors["cp_name"] = "Who is the counterparty? A name is required."
    if str(f["cp_company"]).strip():
        counterparty["company"] = str(f["cp_company"]).strip()
    if f["cp_timezone"]:
        if f["cp_timezone"] not in TIMEZONES:
            errors["cp_timezone"] = "Pick a time zone from the list (IANA names)."
        counterparty["timezone"] = f["cp_timezone"]
    custom, problems = _rows_to_map(f["cp_custom"])
    if problems:
        errors["cp_custom"] = "; ".join(problems)
    if custom:
        counterparty["customData"] = custom
    body["counterparty"] = counterparty
    persona: dict[str, Any] = {"name": str(f["sp_name"]).strip()}
    if not persona["name"]:
        errors["sp_name"] = "Who is Offload writing as? A sender name is required."
    for key, form_key in (("role", "sp_role"), ("company", "sp_company"), ("tone", "sp_tone")):
        if str(f[form_key]).strip():
            persona[key] = str(f[form_key]).strip()
    body["senderPersona"] = persona
    constraints = [line.strip() for line in str(f["constraints"]).splitlines() if line.strip()]
    if constraints:
        body["constraints"] = constraints
    metadata: dict[str, Any] = {}
    if str(f["metadata"]).strip():
        try:
            metadata = json.loads(f["metadata"])
            if not isinstance(metadata, dict):
                errors["metadata"] = 'Metadata must be a JSON object, like {"team": "AP"}.'
                metadata = {}
        except ValueError as exc:
            errors["metadata"] = f"Not valid JSON: {exc}"
    if f["scenario"]:
        metadata = {**metadata, "sandboxScenario": f["scenario"]}
    within = str(f.get("answer_within") or "").strip()
    if within:
        if parse_window_ms(within) is None:
            errors["answer_within"] = (
                f"{within!r} is not a duration: write minutes, hours or days, like 90m, 4h or 2d."
            )
        else:  # travels with the case: Offload echoes metadata in every webhook and GET
            metadata = {**metadata, "consoleAnswerWithin": within.lower().replace(" ", "")}
    if metadata:
        body["metadata"] = metadata
    if f["result_schema"] is not None:
        problems = schema_problems(f["result_schema"])
        if problems:
            errors["result_schema"] = "; ".join(problems)
        else:
            body["resultSchema"] = f["result_schema"]
    url = str(f["webhook_url"]).strip()
    if url:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            errors["webhook_url"] = "A full http(s):// URL, or empty for the console's own."
        body["clientWebhookUrl"] = url
    return body, errors


def form_from_body(body: dict) -> dict:
    """Fill the form from a case body (a template, or an existing case to duplicate)."""
    body = body if isinstance(body, dict) else {}
    goal = body.get("goal") if isinstance(body.get("goal"), dict) else {}
    cp = body.get("counterparty") if isinstance(body.get("counterparty"), dict) else {}
    sp = body.get("senderPersona") if isinstance(body.get("senderPersona"), dict) else {}
    knowledge = goal.get("knowledge")
    metadata = dict(body.get("metadata") or {}) if isinstance(body.get("metadata"), dict) else {}
    metadata.pop("consoleSubmissionId", None)
    scenario = metadata.pop("sandboxScenario", None)
    within = metadata.pop("consoleAnswerWithin", "")
    return {
        **DEFAULTS,
        "client_reference_id": body.get("clientReferenceId", "") or "",
        "channel": body.get("channel", "EMAIL"),
        "max_attempts": _shown(body.get("maxAttempts", 3)),
        "follow_up_delay_hours": _shown(body.get("followUpDelayHours", 72)),
        "objective": goal.get("objective", "") or "",
        "knowledge_mode": "text" if isinstance(knowledge, str) else "table",
        "knowledge_rows": [
            {"key": k, "value": v if isinstance(v, str) else json.dumps(v)}
            for k, v in (knowledge.items() if isinstance(knowledge, dict) else [])
        ],
        "knowledge_text": knowledge if isinstance(knowledge, str) else "",
        "cp_address": cp.get("address", "") or "",
        "cp_name": cp.get("name", "") or "",
        "cp_company": cp.get("company", "") or "",
        "cp_timezone": cp.get("timezone") or None,
        "cp_custom": [{"key": k, "value": v} for k, v in (cp.get("customData") or {}).items()],
        "sp_name": sp.get("name", "") or "",
        "sp_role": sp.get("role", "") or "",
        "sp_company": sp.get("company", "") or "",
        "sp_tone": sp.get("tone", "") or "",
        "constraints": "\n".join(body.get("constraints") or []),
        "metadata": json.dumps(metadata, indent=2) if metadata else "",
        "result_schema": copy.deepcopy(body.get("resultSchema")),
        "webhook_url": body.get("clientWebhookUrl", "") or "",
        "scenario": scenario,
        "answer_within": within if isinstance(within, str) else "",
    }


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def curl_for(body: dict, base_url: str) -> str:
    """The equivalent curl command, API key masked."""
    return (
        f'curl -X POST "{base_url.rstrip("/")}/cases" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        '  -H "x-api-key: $OFFLOAD_API_KEY" \\\n'
        f"  -d {shlex.quote(json.dumps(body, indent=2, ensure_ascii=False))}"
    )


def placeholders(body: Any) -> set[str]:
    """Every ``{{column}}`` used anywhere in the body's strings."""
    found: set[str] = set()
    if isinstance(body, str):
        found.update(PLACEHOLDER.findall(body))
    elif isinstance(body, dict):
        for key, value in body.items():
            found |= placeholders(key) | placeholders(value)
    elif isinstance(body, list):
        for value in body:
            found |= placeholders(value)
    return found


def fill(body: Any, row: dict[str, str]) -> Any:
    """A copy of ``body`` with each ``{{column}}`` replaced by the row's value."""
    if isinstance(body, str):
        return PLACEHOLDER.sub(lambda m: str(row.get(m.group(1), m.group(0))), body)
    if isinstance(body, dict):
        return {fill(k, row): fill(v, row) for k, v in body.items()}
    if isinstance(body, list):
        return [fill(v, row) for v in body]
    return body


def submission_id_for(nonce: str, body: dict) -> str:
    """The outbox id of sending ``body`` from one form: the same body sent twice from the same
    form (a double click) is the same submission, so it makes one case."""
    import hashlib

    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False)
    return "sub_" + hashlib.sha256(f"{nonce}\n{canonical}".encode()).hexdigest()[:32]


@dataclass
class BatchPlan:
    """Cases a CSV makes from a template: each row's body and its problems (``{}``: none),
    the placeholders the CSV has no column for, why it could not be read (None: it could),
    and the batch's id: a row's submission id is ``sub_batch_{batch}_{index}``, so the same
    file sent twice makes no second case."""

    batch: str
    rows: list[tuple[dict, dict]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    error: str | None = None

    def submission_id(self, index: int) -> str:
        return f"sub_batch_{self.batch}_{index}"


def plan_batch(template: dict, raw_csv: bytes) -> BatchPlan:
    """The :class:`BatchPlan` for a CSV whose columns fill the template's placeholders."""
    import csv
    import hashlib
    import io

    plan = BatchPlan(
        hashlib.sha256(raw_csv + json.dumps(template, sort_keys=True).encode()).hexdigest()[:16]
    )
    try:
        reader = csv.DictReader(io.StringIO(raw_csv.decode("utf-8-sig")))
        rows = list(reader)
        columns = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as exc:
        plan.error = f"Could not read the CSV: {exc}"
        return plan
    plan.missing = sorted(p for p in placeholders(template) if p not in columns)
    if plan.missing:
        return plan
    for row in rows:
        body = fill(template, {k: (v or "") for k, v in row.items() if k is not None})
        for key in ("maxAttempts", "followUpDelayHours"):  # a CSV fills numbers as text
            if isinstance(body.get(key), str) and whole_number(body[key]) is not None:
                body[key] = whole_number(body[key])
        problems = build_body(form_from_body(body))[1]
        unfilled = placeholders(body)
        if unfilled:
            problems["placeholders"] = "unfilled: " + ", ".join(sorted(unfilled))
        plan.rows.append((body, problems))
    return plan


def body_for_duplicate(case: dict) -> dict:
    """A case body to start a New case form from an existing case: the request the console
    sent when it has one, else what the console learned of the case from Offload."""
    if case.get("request"):
        try:
            body = json.loads(case["request"])
            if isinstance(body, dict):
                body.pop("clientWebhookUrl", None)
                return body
        except ValueError:
            pass
    body: dict[str, Any] = {
        "channel": case.get("channel") or "EMAIL",
        "goal": {"objective": case.get("objective") or ""},
    }
    if case.get("client_reference_id"):
        body["clientReferenceId"] = case["client_reference_id"]
    counterparty = {
        "address": case.get("counterparty_address") or "",
        "name": case.get("counterparty_name") or "",
    }
    for key, column in (("company", "counterparty_company"), ("timezone", "counterparty_timezone")):
        if case.get(column):
            counterparty[key] = case[column]
    body["counterparty"] = counterparty
    if case.get("max_attempts") is not None:
        body["maxAttempts"] = case["max_attempts"]
    for key, column in (("resultSchema", "result_schema"), ("constraints", "constraints")):
        if case.get(column):
            try:
                body[key] = json.loads(case[column])
            except ValueError:
                pass
    return body
