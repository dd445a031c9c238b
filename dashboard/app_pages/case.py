"""Case timeline: one case's header, every event in order, its result, files and transcript.
Deep link: ``/case?case=<caseId>``."""

import json
from urllib.parse import urlparse

import pandas as pd
import streamlit as st

from dashboard.answer_box import answer_box, show_departed_outcomes
from dashboard.auth import operator
from dashboard.data import get_client, get_db, operator_tz
from dashboard.format import (
    REQUEST_STATUS_WORDS,
    SOURCE_WORDS,
    STATUS_WORDS,
    counterparty_line,
    event_summary,
    gap,
    next_action,
    pretty_json,
    when,
)
from offload_client import OffloadError
from offload_console.answers import refresh_case
from offload_console.case_form import body_for_duplicate
from offload_console.redact import redact
from offload_console.schema_tools import result_problems
from storage.audit import list_audit
from storage.case_filter import CaseFilter
from storage.inbox import case_questions, pending_for_case
from storage.page_queries import case_events, case_submission, get_case, list_cases
from storage.snippets import list_snippets

db = get_db()
tz = operator_tz()

st.title("Case timeline")
case_id = st.query_params.get("case", "")
typed = st.text_input("Case id", value=case_id, key="timeline_case_input")
if typed.strip() != case_id:
    st.query_params["case"] = typed.strip()
    st.rerun()

case = get_case(db, case_id) if case_id else None
if case is None:
    if case_id:
        st.error("No case with this id is in the console's database.")
    recent, _ = list_cases(db, CaseFilter(), limit=10)
    if recent:
        st.caption("Recent cases:")
        for r in recent:
            # The label is ours alone (labels render markdown); the id and status beside it.
            link, about = st.columns([1, 6], vertical_alignment="center")
            with link:
                st.page_link("app_pages/case.py", label="open", query_params={"case": r["case_id"]})
            about.text(f"{r['case_id']} · {r['status']}")
    st.stop()


def flatten(value, prefix=""):
    if isinstance(value, dict) and value:
        for key, sub in value.items():
            yield from flatten(sub, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield (
            prefix or "(value)",
            value if isinstance(value, str) else json.dumps(value, ensure_ascii=False),
        )


# -- header ------------------------------------------------------------------------------
counterparty_tz = case["counterparty_timezone"]
used, follow_ups = case["attempt_count"] or 0, case["max_attempts"]
cols = st.columns([3, 2, 2, 2])
# Metric values render markdown: only our own words go there; Offload's strings go in tables.
cols[0].metric("Status", STATUS_WORDS.get(case["status"], "other"))
cols[1].metric("Result", "yes" if case["result"] else "—")
cols[2].metric("Messages sent", f"{used} of {follow_ups + 1}" if follow_ups is not None else used)
if case["state_rank"] == 1:
    left = "— (finished)"
elif follow_ups is None:
    left = "?"
else:
    left = max(0, follow_ups + 1 - used)
cols[3].metric("Attempts left", left)
header = {
    "Case id": case["case_id"],
    "Client reference": case["client_reference_id"] or "",
    "Status": case["status"],
    "Result status": case["result_status"] or "",
    "Objective": case["objective"] or "",
    "Counterparty": counterparty_line(
        case["counterparty_name"], case["counterparty_address"], case["counterparty_company"]
    ),
    "Counterparty time zone": counterparty_tz or "unknown",
    "Next follow-up": next_action(case["next_action_at"], tz),
    "Created": when(case["created_at"], tz, seconds=True),
    "Last update from Offload": when(case["updated_at"], tz, seconds=True),
    "Last polled": when(case["last_polled_at"], tz, seconds=True) or "never",
}
submission = case_submission(db, case["case_id"])
if submission:
    header["Sent by"] = (
        f"{submission['created_by'] or 'unknown'} at {when(submission['created_at'], tz)}"
    )
st.dataframe(
    pd.DataFrame({"": list(header), "value": list(header.values())}),
    hide_index=True,
    height=35 * (len(header) + 1) + 3,  # every fact at once, no scrolling inside the table
    column_config={"": st.column_config.TextColumn(width="medium")},
)

# -- the question waiting on an operator, answered here as in the Inbox ------------------
waiting = pending_for_case(db, case["case_id"])
show_departed_outcomes({waiting["input_request_id"]} if waiting else set())
if waiting:
    with st.container(border=True, key="case_answer"):
        st.subheader("Waiting on your answer")
        st.caption(f"Asked {when(waiting['requested_at'], tz, seconds=True)}")
        st.text(waiting["question"] or "(Offload sent no question text)")
        if operator() is None:
            st.warning("Enter your name in the sidebar to answer.")
        answer_box(waiting, list_snippets(db))

b1, b2, b3, _ = st.columns([1, 1, 1, 2])
if b3.button("Duplicate this case", key="duplicate_case", icon=":material/content_copy:"):
    st.session_state["nc_load"] = body_for_duplicate(case)
    st.switch_page("app_pages/new_case.py")
if b1.button("Refresh from Offload", key="refresh_case", icon=":material/refresh:"):
    try:
        changed = refresh_case(db, get_client(), case["case_id"])
        st.session_state["refresh_note"] = (
            "success",
            "Refreshed: the case's state was updated."
            if changed
            else "Refreshed: nothing new at Offload.",
        )
    except OffloadError as exc:
        st.session_state["refresh_note"] = ("error", f"Could not refresh ({exc.advice})", str(exc))
    st.rerun()
if b2.button("Load transcript", key="load_transcript", icon=":material/forum:"):
    try:
        state = get_client().get_case(case["case_id"], include_transcript=True)
        st.session_state[f"transcript_{case['case_id']}"] = state.conversation_thread or ""
    except OffloadError as exc:
        st.session_state["refresh_note"] = (
            "error",
            f"Could not load the transcript ({exc.advice})",
            str(exc),
        )
note = st.session_state.pop("refresh_note", None)
if note:
    (st.success if note[0] == "success" else st.error)(note[1])
    if len(note) > 2:
        st.code(note[2], language=None, wrap_lines=True)
transcript = st.session_state.get(f"transcript_{case['case_id']}")
if transcript is not None:
    with st.expander("Transcript", expanded=True):
        st.text(transcript or "No conversation yet.")

# -- result ------------------------------------------------------------------------------
st.subheader("Result")
result = json.loads(case["result"]) if case["result"] else None
schema = json.loads(case["result_schema"]) if case["result_schema"] else None
if result is None:
    st.caption("No result yet.")
else:
    st.dataframe(pd.DataFrame(list(flatten(result)), columns=["field", "value"]), hide_index=True)
    problems = result_problems(result, schema)
    if problems:
        st.warning(
            f"The result does not match this case's result schema ({len(problems)} problems)."
        )
        st.dataframe(pd.DataFrame(problems), hide_index=True)
    elif schema:
        st.caption("Matches the case's result schema.")
if case["failure_reason"]:
    st.text(f"Failure reason: {case['failure_reason']}")

# -- questions and answers ---------------------------------------------------------------
questions = case_questions(db, case["case_id"])
if questions:
    st.subheader("Questions and answers")
    for q in questions:
        with st.container(border=True):
            status_word = REQUEST_STATUS_WORDS.get(q["status"], "other")
            st.caption(f"{when(q['requested_at'], tz, seconds=True)} · {status_word}")
            st.text(f"Q: {q['question'] or ''}")
            if q["answer"]:
                st.text(
                    f"A: {q['answer']}\n   by {q['answered_by']}, "
                    f"{when(q['answered_at'], tz, seconds=True)}"
                )

# -- attachments -------------------------------------------------------------------------
events = case_events(db, case["case_id"])
attachments = {}
for event in events:
    try:
        data = json.loads(event["payload"]).get("data") or {}
    except ValueError:
        continue
    for attachment in data.get("attachments") or []:
        if isinstance(attachment, dict) and attachment.get("attachmentId"):
            attachments[attachment["attachmentId"]] = attachment
if attachments:
    st.subheader("Attachments")
    for attachment_id, attachment in attachments.items():
        c1, c2 = st.columns([4, 1])
        c1.text(
            f"{attachment.get('name', attachment_id)} · {attachment.get('type', '')} · "
            f"{attachment.get('size', '?')} bytes"
        )
        if c2.button("Get download link", key=f"att_{attachment_id}"):
            try:
                link = get_client().get_attachment(case["case_id"], attachment_id)
                st.session_state[f"link_{attachment_id}"] = link.download_url
            except OffloadError as exc:
                st.error(f"Could not get a link ({exc.advice})")
                st.code(str(exc), language=None)
        url = st.session_state.get(f"link_{attachment_id}")
        if url:
            if urlparse(url).scheme in ("http", "https"):
                st.link_button("Download (link expires soon)", url)
            else:
                st.code(url, language=None)

# -- timeline ----------------------------------------------------------------------------
st.subheader("Timeline")
st.caption(
    f"Times in your zone ({tz}) to the second, the time since the event before, and the "
    "counterparty's local time."
)


def event_time(e: dict) -> int:
    return e["received_at"] if e["source"] == "console" else (e["state_ts"] or e["timestamp"])


timeline_rows = []
previous = None
for e in events:
    moment = event_time(e)
    timeline_rows.append(
        {
            "when": when(moment, tz, seconds=True),
            "after": gap(moment - previous) if previous is not None else "",
            "their time": when(moment, counterparty_tz, seconds=True) if counterparty_tz else "",
            "what": event_summary(e),
            "via": e["source"]
            + (f" ({e['actor']})" if e["actor"] else "")
            + " · "
            + e["event_type"],
        }
    )
    previous = moment
st.dataframe(
    pd.DataFrame(timeline_rows),
    hide_index=True,
    column_config={
        "when": st.column_config.TextColumn(width=170),
        "after": st.column_config.TextColumn(width=85),
        "their time": st.column_config.TextColumn(width=170),
        "what": st.column_config.TextColumn(width=300),
        "via": st.column_config.TextColumn(width=210),
    },
)
st.caption("When each event was received, and its raw JSON: switch on the raw view.")
if st.toggle("Show each event's raw JSON", key="timeline_raw"):
    for number, e in enumerate(events, start=1):
        # The label is ours alone: an event type comes from outside and labels render markdown.
        with st.expander(
            f"Raw event {number} · {SOURCE_WORDS.get(e['source'], 'other')} · received "
            f"{when(e['received_at'], tz, seconds=True)}"
        ):
            st.text(e["event_type"])
            st.code(redact(pretty_json(e["payload"])), language="json")

actions = list_audit(db, case_id=case["case_id"], limit=200)
if actions:
    st.subheader("Who did what")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "when": when(a["at"], tz, seconds=True),
                    "operator": a["operator"] or "",
                    "action": a["action"],
                    "detail": redact(a["detail"] or ""),
                }
                for a in actions
            ]
        ),
        hide_index=True,
    )
