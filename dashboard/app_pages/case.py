"""Case timeline: one case's header, every event in order, its result, files and transcript.
Deep link: ``/case?case=<caseId>``."""

from urllib.parse import urlparse

import pandas as pd
import streamlit as st

from dashboard import outside
from dashboard.answer_box import answer_box, show_departed_outcomes
from dashboard.auth import operator
from dashboard.case_view import (
    TIMELINE_WIDTHS,
    attachment_line,
    audit_rows,
    case_facts,
    header_figures,
    notification_rows,
    result_check,
    result_rows,
    timeline_rows,
)
from dashboard.format import REQUEST_STATUS_WORDS, SOURCE_WORDS, pretty_json, when
from dashboard.outage import paused
from dashboard.session import get_client, get_db, operator_tz
from offload_client import OffloadError
from offload_console.answers import refresh_case
from offload_console.case_form import body_for_duplicate
from offload_console.redact import redact
from storage import StorageError
from storage.audit import list_audit
from storage.case_filter import CaseFilter
from storage.inbox import case_questions, pending_for_case
from storage.notifications import case_notifications
from storage.page_queries import (
    case_attachments,
    case_events,
    case_submission,
    case_version,
    get_case,
    list_cases,
)
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
            with about:
                outside.text(f"{r['case_id']} · {r['status']}")
    st.stop()


@st.fragment(run_every="2s")
def follow_case() -> None:
    """Every 2 s, a few indexed reads: when anything about this case was stored since (an
    event, a repair, an answer), the page redraws, so a new event shows within seconds,
    without a reload. Typed answers live in session state and survive the redraw."""
    try:
        version = case_version(db, case["case_id"])
    except StorageError as exc:  # the page stays as it is; the next tick tries again
        paused(exc)
        return
    key = f"case_version_{case['case_id']}"
    seen = st.session_state.get(key)
    st.session_state[key] = version
    if seen is not None and seen != version:
        st.rerun(scope="app")


follow_case()

# -- header ------------------------------------------------------------------------------
for column, (label, figure) in zip(st.columns([3, 2, 2, 2]), header_figures(case), strict=True):
    column.metric(label, figure)
facts = case_facts(case, case_submission(db, case["case_id"]), tz)
outside.dataframe(
    pd.DataFrame({"": list(facts), "value": list(facts.values())}),
    hide_index=True,
    height=35 * (len(facts) + 1) + 3,  # every fact at once, no scrolling inside the table
    column_config={"": st.column_config.TextColumn(width="medium")},
)

# -- the question waiting on an operator, answered here as in the Inbox ------------------
waiting = pending_for_case(db, case["case_id"])
show_departed_outcomes({waiting["input_request_id"]} if waiting else set())
if waiting:
    with st.container(border=True, key="case_answer"):
        st.subheader("Waiting on your answer")
        st.caption(f"Asked {when(waiting['requested_at'], tz, seconds=True)}")
        outside.text(f"Assigned to: {waiting['assigned_to'] or 'nobody'}")
        outside.text(waiting["question"] or "(Offload sent no question text)")
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
        outside.text(transcript or "No conversation yet.")

# -- result ------------------------------------------------------------------------------
st.subheader("Result")
rows = result_rows(case)
if rows is None:
    st.caption("No result yet.")
else:
    outside.dataframe(pd.DataFrame(rows, columns=["field", "value"]), hide_index=True)
    problems, verdict = result_check(case)
    if problems:
        st.warning(verdict)
        outside.dataframe(pd.DataFrame(problems), hide_index=True)
    elif verdict:
        st.caption(verdict)
if case["failure_reason"]:
    outside.text(f"Failure reason: {case['failure_reason']}")

# -- questions and answers ---------------------------------------------------------------
questions = case_questions(db, case["case_id"])
if questions:
    st.subheader("Questions and answers")
    for q in questions:
        with st.container(border=True):
            status_word = REQUEST_STATUS_WORDS.get(q["status"], "other")
            st.caption(f"{when(q['requested_at'], tz, seconds=True)} · {status_word}")
            outside.text(f"Q: {q['question'] or ''}")
            if q["answer"]:
                outside.text(
                    f"A: {q['answer']}\n   by {q['answered_by']}, "
                    f"{when(q['answered_at'], tz, seconds=True)}"
                )

# -- attachments -------------------------------------------------------------------------
attachments = case_attachments(db, case["case_id"])
if attachments:
    st.subheader("Attachments")
    for attachment in attachments:
        attachment_id = attachment["attachment_id"]
        c1, c2 = st.columns([4, 1])
        with c1:
            outside.text(attachment_line(attachment))  # a file name from outside
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
events = case_events(db, case["case_id"])
outside.dataframe(
    pd.DataFrame(timeline_rows(events, tz, case["counterparty_timezone"])),
    hide_index=True,
    column_config={
        name: st.column_config.TextColumn(width=width) for name, width in TIMELINE_WIDTHS.items()
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
            outside.text(e["event_type"])
            st.code(redact(pretty_json(e["payload"])), language="json")

sent = case_notifications(db, case["case_id"])
if sent:
    st.subheader("Notifications")
    outside.dataframe(pd.DataFrame(notification_rows(sent, tz)), hide_index=True)

actions = list_audit(db, case_id=case["case_id"], limit=200)
if actions:
    st.subheader("Who did what")
    outside.dataframe(pd.DataFrame(audit_rows(actions, tz)), hide_index=True)
