"""What the Inbox's queue and detail pane show, as plain functions (no Streamlit)."""

from __future__ import annotations

from dataclasses import dataclass

from dashboard.format import (
    attempts,
    case_line,
    counterparty_line,
    due_words,
    duration,
    json_list,
    local_now,
    when,
)
from storage.inbox import SORTS, VIEWS, InboxFilter

VIEW_LABELS = {"all": "All", "mine": "Mine", "unassigned": "Unassigned"}
SORT_LABELS = {"due": "Soonest due", "waiting": "Longest waiting", "case": "Case"}


@dataclass(frozen=True)
class InboxQuery:
    """What the Inbox's URL holds: ``?view=mine&q=w-9&sort=waiting&request=<id>``, so a link
    (a notification's among them) opens the same view and the same question."""

    flt: InboxFilter
    sort: str = "due"
    request: str | None = None


def filter_from_query(params: dict, me: str | None) -> InboxQuery:
    """The Inbox's view as the URL holds it. Anything unknown falls back to the default."""
    view = params.get("view", "all")
    sort = params.get("sort", "due")
    return InboxQuery(
        InboxFilter(view=view if view in VIEWS else "all", me=me, text=params.get("q", "")),
        sort if sort in SORTS else "due",
        (params.get("request") or "").strip()[:200] or None,
    )


def query_from_filter(query: InboxQuery) -> dict[str, str]:
    """The URL parameters for ``query`` (defaults left out, so the plain Inbox stays ``/``)."""
    params = {}
    if query.flt.view != "all":
        params["view"] = query.flt.view
    if query.flt.text.strip():
        params["q"] = query.flt.text.strip()
    if query.sort != "due":
        params["sort"] = query.sort
    if query.request:
        params["request"] = query.request
    return params


def presence_words(people: list) -> str:
    """Who else is on a question (``storage.presence.Presence``s, typing first): "Blake is
    typing", "Blake and Casey are viewing", "Blake is typing · Casey is viewing"."""
    parts = []
    for typing, verb in ((True, "typing"), (False, "viewing")):
        names = [p.operator for p in people if p.typing is typing]
        if names:
            joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
            parts.append(f"{joined} {'is' if len(names) == 1 else 'are'} {verb}")
    return " · ".join(parts)


def queue_row(row: dict, now: int) -> tuple[str, bool, str]:
    """One question in the queue: its due words (the button), whether it is late, and two
    lines of text: whose case and how long it has waited, then the question's first line."""
    due, late = due_words(row["due_at"], now)
    first = next(
        (line.strip() for line in (row["question"] or "").splitlines() if line.strip()), ""
    )
    waited = duration(now - row["requested_at"]) if row["requested_at"] is not None else "?"
    line1 = " · ".join(
        [
            row["client_reference_id"] or "(no reference)",
            row["counterparty_name"] or row["counterparty_address"] or "(no counterparty)",
            row["assigned_to"] or "unassigned",
            f"waited {waited}",
        ]
    )
    return due, late, f"{line1}\n{first or '(no question text)'}"


def next_after(gone: str, before: list[str], now_shown: list[str]) -> str | None:
    """The question to select once ``gone`` left the queue (answered from here): the first of
    those after it in the order the operator saw (``before``) that is still shown, else the
    first shown."""
    if gone in before:
        for request_id in before[before.index(gone) + 1 :]:
            if request_id in now_shown:
                return request_id
    return now_shown[0] if now_shown else None


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
