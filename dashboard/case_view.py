"""What the Case timeline page shows, as plain functions (no Streamlit): the header's figures,
the facts table, the result's rows and its schema check, the timeline and the audit rows.
``app_pages/case.py`` lays these out and holds the page's buttons (refresh, transcript,
attachment links, duplicate)."""

from __future__ import annotations

import json
from typing import Any

from dashboard.format import (
    STATUS_WORDS,
    counterparty_line,
    event_summary,
    gap,
    next_action,
    plural,
    when,
)
from offload_console.csv_export import flatten
from offload_console.redact import redact
from offload_console.schema_tools import result_problems


def header_figures(case: dict) -> list[tuple[str, str]]:
    """The four figures above the facts, in the console's own words only (metric values
    render markdown: Offload's strings never go there)."""
    used, follow_ups = case["attempt_count"] or 0, case["max_attempts"]
    if case["state_rank"] == 1:
        left = "none"  # finished (a longer word is cut short in the metric at 1280 px)
    elif follow_ups is None:
        left = "?"
    else:
        left = str(max(0, follow_ups + 1 - used))
    return [
        ("Status", STATUS_WORDS.get(case["status"], "other")),
        ("Result", "yes" if case["result"] else "—"),
        ("Messages sent", f"{used} of {follow_ups + 1}" if follow_ups is not None else str(used)),
        ("Attempts left", left),
    ]


def case_facts(case: dict, submission: dict | None, tz: str) -> dict[str, str]:
    """The facts table: every value as text, shown in a table (never rendered)."""
    facts = {
        "Case id": case["case_id"],
        "Client reference": case["client_reference_id"] or "",
        "Status": case["status"],
        "Result status": case["result_status"] or "",
        "Objective": case["objective"] or "",
        "Counterparty": counterparty_line(
            case["counterparty_name"], case["counterparty_address"], case["counterparty_company"]
        ),
        "Counterparty time zone": case["counterparty_timezone"] or "unknown",
        "Next follow-up": next_action(case["next_action_at"], tz),
        "Created": when(case["created_at"], tz, seconds=True),
        "Last update from Offload": when(case["updated_at"], tz, seconds=True),
        "Last polled": when(case["last_polled_at"], tz, seconds=True) or "never",
    }
    if submission:
        facts["Sent by"] = (
            f"{submission['created_by'] or 'unknown'} at {when(submission['created_at'], tz)}"
        )
    return facts


def _decoded(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def result_rows(case: dict) -> list[tuple[str, str]] | None:
    """``(field, value)`` per result field, nested fields as ``a.b``; None with no result."""
    result = _decoded(case["result"])
    if result is None:
        return None
    return [
        (field, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        for field, value in flatten(result).items()
    ]


def result_check(case: dict) -> tuple[list[dict], str | None]:
    """The result's problems against the case's resultSchema, and a line saying so."""
    result, schema = _decoded(case["result"]), _decoded(case["result_schema"])
    if result is None:
        return [], None
    problems = result_problems(result, schema)
    if problems:
        return problems, (
            "The result does not match this case's result schema "
            f"({plural(len(problems), 'problem')})."
        )
    return [], "Matches the case's result schema." if schema else None


def event_time(event: dict) -> int:
    """When an event happened: Offload's updatedAt for its events, arrival for the console's."""
    if event["source"] == "console":
        return event["received_at"]
    return event["state_ts"] or event["timestamp"]


def timeline_rows(events: list[dict], tz: str, counterparty_tz: str | None) -> list[dict]:
    rows, previous = [], None
    for event in events:
        moment = event_time(event)
        rows.append(
            {
                "when": when(moment, tz, seconds=True),
                "after": gap(moment - previous) if previous is not None else "",
                "their time": when(moment, counterparty_tz, seconds=True)
                if counterparty_tz
                else "",
                "what": event_summary(event),
                "via": event["source"]
                + (f" ({event['actor']})" if event["actor"] else "")
                + " · "
                + event["event_type"],
            }
        )
        previous = moment
    return rows


def audit_rows(actions: list[dict], tz: str) -> list[dict]:
    return [
        {
            "when": when(action["at"], tz, seconds=True),
            "operator": action["operator"] or "",
            "action": action["action"],
            "detail": redact(action["detail"] or ""),
        }
        for action in actions
    ]


NOTIFICATION_WORDS = {
    "PENDING": "waiting to be sent",
    "SENT": "sent",
    "FAILED": "given up",
    "DROPPED": "not sent (answered first)",
}


def notification_rows(notifications: list[dict], tz: str) -> list[dict]:
    """What was sent about a case's questions: when, what, to which target, how it went."""
    return [
        {
            "when": when(n["sent_at"] or n["created_at"], tz, seconds=True),
            "what": n["kind"],
            "to": n["target"] + (f" → {n['recipient']}" if n["recipient"] else ""),
            "outcome": NOTIFICATION_WORDS.get(n["status"], "other")
            + (f" after {n['attempts']} tries" if n["attempts"] > 1 else ""),
            "last error": n["last_error"] or "",
            "id": n["notification_id"],
        }
        for n in notifications
    ]


def attachment_line(attachment: dict) -> str:
    return (
        f"{attachment['name'] or attachment['attachment_id']} · {attachment['type'] or ''} · "
        f"{attachment['size'] if attachment['size'] is not None else '?'} bytes"
    )


# The timeline's columns (px): together within the page's 916 px at 1280x800 with the sidebar
# open, so neither "what" nor "via" is cut off at the right edge.
TIMELINE_WIDTHS = {"when": 160, "after": 50, "their time": 160, "what": 340, "via": 200}
