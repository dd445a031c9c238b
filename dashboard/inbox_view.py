"""What an Inbox card shows, as plain functions (no Streamlit)."""

from __future__ import annotations

from dashboard.format import attempts, case_line, counterparty_line, json_list, local_now, when
from storage.inbox import VIEWS, InboxFilter

VIEW_LABELS = {"all": "All", "mine": "Mine", "unassigned": "Unassigned"}


def filter_from_query(params: dict, me: str | None) -> InboxFilter:
    """The Inbox's filters as the URL holds them (``?view=mine&q=w-9``): a link opens the
    same view. Anything unknown falls back to all questions."""
    view = params.get("view", "all")
    return InboxFilter(view=view if view in VIEWS else "all", me=me, text=params.get("q", ""))


def query_from_filter(flt: InboxFilter) -> dict[str, str]:
    """The URL parameters for ``flt`` (defaults left out, so the plain Inbox stays ``/``)."""
    params = {}
    if flt.view != "all":
        params["view"] = flt.view
    if flt.text.strip():
        params["q"] = flt.text.strip()
    return params


def arrivals_note(rows: list[dict]) -> str:
    """The toast for questions that arrived while the Inbox was open."""
    if len(rows) == 1:
        return f"New question: {case_line(rows[0])}"
    return f"{len(rows)} new questions, the first: {case_line(rows[0])}"


def question_facts(row: dict) -> dict[str, str]:
    """The case beside a waiting question: what, with whom, their clock, attempts, rules."""
    return {
        "Objective": row["objective"] or "",
        "Counterparty": counterparty_line(
            row["counterparty_name"], row["counterparty_address"], row["counterparty_company"]
        ),
        "Their local time": local_now(row["counterparty_timezone"]),
        "Attempts": attempts(row["attempt_count"], row["max_attempts"]),
        "Constraints": "; ".join(map(str, json_list(row["constraints"]))) or "none",
        "Reference": row["client_reference_id"] or "",
    }


def earlier_question_text(question: dict, tz: str) -> str:
    """An earlier question of the same case, with its answer and who gave it."""
    answered_by = f" ({question['answered_by']})" if question["answered_by"] else ""
    return (
        f"{when(question['requested_at'], tz)} · {question['status']}\n"
        f"Q: {question['question']}\n"
        f"A: {question['answer'] or '(none)'}{answered_by}"
    )
