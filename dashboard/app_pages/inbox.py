"""Inbox: every question waiting on a human, soonest due first, whose it is, and where to
answer it. Filters live in the URL (``?view=mine&q=…``); an open Inbox notices new questions
within two seconds (it polls ``inbox_version``, a counter the database bumps)."""

import math

import pandas as pd
import streamlit as st

from dashboard.answer_box import answer_box, refusal_before_sending, show_departed_outcomes
from dashboard.auth import operator
from dashboard.format import case_line, due_words, duration, literal, plural, when
from dashboard.inbox_view import (
    VIEW_LABELS,
    arrivals_note,
    earlier_question_text,
    filter_from_query,
    query_from_filter,
    question_facts,
)
from dashboard.session import answer_window, get_client, get_db, operator_tz, session_token
from offload_console.answers import BUSY, send_to_many, why_not_pending
from offload_console.assignment import assign, assignable
from storage import StorageError, now_ms
from storage.inbox import (
    VIEWS,
    InboxFilter,
    case_questions,
    pending_count,
    pending_ids,
    pending_requests,
    requests_by_ids,
)
from storage.notifications import inbox_version
from storage.snippets import delete_snippet, list_snippets, save_snippet

PAGE_SIZE = 10
BULK_LIMIT = 100
db = get_db()
tz = operator_tz()
ss = st.session_state

within = answer_window()

st.title("Inbox")
st.caption("Questions Offload's agent cannot answer alone. Each answer goes to Offload once.")
arrivals = ss.pop("inbox_toast", None)
if arrivals:  # outside text (the case's reference, counterparty, objective): made literal
    st.toast(literal(arrivals), icon=":material/mark_email_unread:")

# -- filters, kept in the URL -------------------------------------------------------------
me = operator()
from_url = filter_from_query(st.query_params.to_dict(), me)
if ss.get("inbox_url") != query_from_filter(from_url):  # a link, a reload, back or forward
    ss["inbox_view"] = from_url.view
    ss["inbox_q"] = from_url.text
    ss["inbox_url"] = query_from_filter(from_url)


def current_filter() -> InboxFilter:
    return InboxFilter(view=ss.get("inbox_view") or "all", me=me, text=ss.get("inbox_q", ""))


def filters_changed() -> None:
    wanted = query_from_filter(current_filter())
    st.query_params.from_dict(wanted)
    ss["inbox_url"] = wanted


f1, f2 = st.columns([2, 3], vertical_alignment="bottom")
f1.segmented_control(
    "Show",
    VIEWS,
    format_func=VIEW_LABELS.get,
    key="inbox_view",
    on_change=filters_changed,
)
f2.text_input(
    "Search questions",
    key="inbox_q",
    on_change=filters_changed,
    placeholder="e.g. W-9, vendor_2048, Maya, Monday",
)
flt = current_filter()
names = assignable(db)


def _assign(request_id: str, assignee: str | None) -> None:
    _, message = assign(db, request_id, assignee, operator())
    ss[f"assign_note_{request_id}"] = message


def _assign_chosen(request_id: str) -> None:
    chosen = (ss.get(f"assignee_{request_id}") or "").strip()
    ss[f"assignee_{request_id}"] = None
    if chosen:
        _assign(request_id, chosen)


def render_request(row: dict, snippets: list[dict]) -> None:
    request_id = row["input_request_id"]
    now = now_ms()
    with st.container(border=True, key=f"request_{abs(hash(request_id))}"):
        left, right = st.columns([1, 1])
        with left:
            due_text, late = due_words(row["due_at"], now)
            st.badge(
                due_text,
                icon=":material/alarm:" if late else ":material/schedule:",
                color="red" if late else "green",
            )
            st.caption(
                f"Waiting {duration(now - (row['requested_at'] or now))} · asked "
                f"{when(row['requested_at'], tz)}"
            )
            st.text(row["question"] or "(Offload sent no question text)")
            earlier = [
                q for q in case_questions(db, row["case_id"]) if q["input_request_id"] != request_id
            ]
            if earlier:
                with st.expander(f"Earlier questions on this case ({len(earlier)})"):
                    for q in earlier:
                        st.text(earlier_question_text(q, tz))
        with right:
            facts = question_facts(row)
            st.text("\n".join(f"{k}: {v}" for k, v in facts.items()))
            st.page_link(
                "app_pages/case.py",
                label="Open timeline",
                query_params={"case": row["case_id"]},
                icon=":material/timeline:",
            )
            assignment(row)
        answer_box(row, snippets)


def assignment(row: dict) -> None:
    """Whose question it is, and the buttons that change it (each change audited)."""
    request_id = row["input_request_id"]
    st.text(f"Assigned to: {row['assigned_to'] or 'nobody'}")
    a1, a2, a3 = st.columns([2, 1, 1], vertical_alignment="bottom")
    others = [n for n in names if n != row["assigned_to"]]
    a1.selectbox(
        "Assign to",
        others,
        index=None,
        key=f"assignee_{request_id}",
        placeholder="Assign to…",
        label_visibility="collapsed",
        accept_new_options=True,
        on_change=_assign_chosen,
        args=(request_id,),
        disabled=me is None,
    )
    if row["assigned_to"] != me:
        a2.button(
            "Assign to me",
            key=f"assign_me_{request_id}",
            on_click=_assign,
            args=(request_id, me),
            disabled=me is None,
        )
    if row["assigned_to"]:
        a3.button(
            "Unassign", key=f"unassign_{request_id}", on_click=_assign, args=(request_id, None)
        )
    assign_note = ss.pop(f"assign_note_{request_id}", None)
    if assign_note:  # it names an operator: shown as text
        st.text(assign_note)


@st.fragment(run_every="2s")
def watch() -> None:
    """Every 2 s: one read of a counter. Only when it moved (a question came, went, or
    changed hands) does the page redraw; new questions get a toast naming their case.
    Typed answers live in session state and survive the redraw."""
    version = inbox_version(db)
    seen = ss.get("inbox_version")
    ss["inbox_version"] = version
    if seen is None or version == seen:
        return
    new_ids = sorted(pending_ids(db) - ss.get("inbox_known", set()))
    arrived = sorted(
        requests_by_ids(db, new_ids, within_ms=within).values(),
        key=lambda r: (r["requested_at"] or 0, r["input_request_id"]),
    )
    if arrived:
        ss["inbox_toast"] = arrivals_note(arrived)
    st.rerun(scope="app")


watch()


def inbox() -> None:
    ss["inbox_known"] = pending_ids(db)
    total = pending_count(db, flt)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = 1
    if pages > 1:
        page = st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, key="inbox_page")
    rows = pending_requests(db, PAGE_SIZE, (page - 1) * PAGE_SIZE, within_ms=within, flt=flt)
    show_departed_outcomes({row["input_request_id"] for row in rows})
    if total == 0:
        if flt == InboxFilter(me=me):
            st.info("No questions are waiting. New ones appear here on their own.")
        else:
            st.info("No waiting question matches these filters.")
        return
    st.caption(f"{total} waiting, soonest due first.")
    snippets = list_snippets(db)
    for row in rows:
        render_request(row, snippets)


# -- one answer to several questions -----------------------------------------------------
# Ticks follow the question (its input request id), never a row position: the list below
# changes whenever anyone answers.


def ticked() -> list[str]:
    return ss.setdefault("bulk_ticked", [])


def toggle(request_id: str) -> None:
    chosen = [r for r in ticked() if r != request_id]
    if ss.get(f"bulk_pick_{request_id}"):
        chosen.append(request_id)
    ss["bulk_ticked"] = chosen
    ss.pop("bulk_results", None)  # a new selection: the last send's results are done with


def bulk_send(request_ids: tuple[str, ...], text: str) -> None:
    """Send ``text`` to exactly the questions the preview showed, each once; any that left
    the inbox since is not sent, and the results say so."""
    refused = refusal_before_sending()
    if refused is not None:
        ss["bulk_results"] = [
            {"case": "", "question": "", "sent": False, "what happened": refused.message}
        ]
        return
    try:
        sent = send_to_many(
            db, get_client(), list(request_ids), operator(), text, session=session_token()
        )
    except StorageError:
        ss["bulk_results"] = [
            {"case": "", "question": "", "sent": False, "what happened": BUSY.message}
        ]
        return
    results = [
        {
            "case": case_line(r.row) if r.row else r.request_id,
            "question": (r.row or {}).get("question") or "",
            "sent": r.sent,
            "what happened": r.message,
        }
        for r in sent
    ]
    ss["bulk_results"] = results
    ss["bulk_ticked"] = []
    ss["bulk_dropped"] = []
    for request_id in request_ids:
        ss.pop(f"bulk_pick_{request_id}", None)
    if all(r["sent"] for r in results):
        ss["bulk_answer"] = ""


def bulk_answer() -> None:
    # Kept until the next selection, so a background redraw does not take them away.
    results = ss.get("bulk_results")
    if results:
        sent = sum(r["sent"] for r in results)
        st.success(f"Sent to {plural(sent, 'question')} of {len(results)}.")
        st.dataframe(pd.DataFrame(results), hide_index=True)
    rows = pending_requests(db, BULK_LIMIT, 0, within_ms=within)
    pending = {r["input_request_id"]: r for r in rows}
    # Questions ticked earlier that have left the inbox since: dropped, and said so until the
    # next send (the live Inbox may redraw in the background: the note must not vanish with it).
    # Why each left is read afresh every time: a question seen closed by a webhook a moment
    # before its answer was recorded reads "already answered by …" once it is.
    gone = [r for r in ticked() if r not in pending]
    if gone:
        ss["bulk_dropped"] = list(dict.fromkeys([*ss.get("bulk_dropped", []), *gone]))
        ss["bulk_ticked"] = [r for r in ticked() if r in pending]
    dropped = ss.get("bulk_dropped", [])
    if dropped:
        left = requests_by_ids(db, dropped)
        st.warning(
            f"Dropped from your selection: {plural(len(dropped), 'question')} left the inbox."
        )
        for request_id in dropped:
            row = left.get(request_id)
            st.text(f"{case_line(row) if row else request_id}: {why_not_pending(row)}")
    if not rows:
        st.caption("Nothing waiting.")
        return
    if len(rows) == BULK_LIMIT:
        st.caption(f"The {BULK_LIMIT} oldest questions.")
    for row in rows:
        request_id = row["input_request_id"]
        ss[f"bulk_pick_{request_id}"] = request_id in ticked()
        c1, c2 = st.columns([1, 24], vertical_alignment="center")
        c1.checkbox(
            "Select",
            key=f"bulk_pick_{request_id}",
            on_change=toggle,
            args=(request_id,),
            label_visibility="collapsed",
        )
        c2.text(f"{case_line(row)}\n  {row['question']}")
    text = st.text_area("One answer for every selected question", key="bulk_answer")
    chosen = [r for r in ticked() if r in pending]
    if not chosen:
        st.caption("Tick the questions this answer is for.")
        return
    if not text.strip():
        st.caption("Type the answer to see what each case will get.")
        return
    st.caption(f"Preview: {plural(len(chosen), 'case')}, each question and the answer it gets.")
    for request_id in chosen:
        row = pending[request_id]
        with st.container(border=True):
            st.text(case_line(row))
            st.text(f"Q: {row['question']}\nA: {text.strip()}")
    st.button(
        f"Send to {plural(len(chosen), 'question')}",
        key="bulk_send",
        type="primary",
        on_click=bulk_send,
        args=(tuple(chosen), text),
        disabled=operator() is None,
    )


if operator() is None:
    st.warning("Enter your name in the sidebar to answer questions.")
inbox()

# Drawn only when asked for: a table of every pending question is heavy to load.
if st.toggle("Answer several similar questions at once", key="inbox_bulk_open"):
    bulk_answer()

if st.toggle("Saved replies", key="inbox_snippets_open"):
    for snippet in list_snippets(db):
        c1, c2 = st.columns([5, 1])
        c1.text(f"{snippet['name']}: {snippet['text']}")
        if c2.button("Delete", key=f"del_snippet_{snippet['name']}", disabled=operator() is None):
            delete_snippet(db, snippet["name"], operator())
            st.rerun()
    with st.form("new_snippet", clear_on_submit=True):
        name = st.text_input("Name")
        body = st.text_area("Reply text")
        if st.form_submit_button("Save reply", disabled=operator() is None):
            if name.strip() and body.strip():
                save_snippet(db, name.strip(), body.strip(), operator())
                st.rerun()
            else:
                st.error("A saved reply needs a name and a text.")
