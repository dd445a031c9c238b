"""Inbox: a queue of every question waiting on a human (one dense row each) with the selected
question beside it: the whole question, its case, its last events, assignment and the answer
box. After an answer is sent the next question is selected. Filters, order and the selected
question live in the URL (``?view=mine&q=…&sort=waiting&request=<id>``); an open Inbox
notices new questions within two seconds (it polls ``inbox_version``, a counter the database
bumps). Ticking rows turns the pane into one answer for every ticked question."""

import streamlit as st

from dashboard import outside
from dashboard.answer_box import (
    TRIMMED,
    answer_box,
    keep_draft,
    kept_draft,
    refusal_before_sending,
    show_last_departed,
    show_outcome,
)
from dashboard.auth import operator, refused
from dashboard.format import case_line, due_words, duration, event_summary, literal, plural, when
from dashboard.inbox_view import (
    SORT_LABELS,
    VIEW_LABELS,
    InboxQuery,
    arrivals_note,
    earlier_question_text,
    filter_from_query,
    next_after,
    presence_words,
    query_from_filter,
    question_facts,
    queue_row,
)
from dashboard.keys import KEYS_HELP, inbox_keys
from dashboard.outage import paused
from dashboard.session import get_client, get_db, operator_tz, session_token
from offload_console import settings
from offload_console.answers import BUSY, EMPTY, send_to_many, why_not_pending
from offload_console.assignment import assign, assignable, same_person
from storage import StorageError, now_ms
from storage.inbox import (
    SORTS,
    VIEWS,
    InboxFilter,
    case_questions,
    pending_count,
    pending_ids,
    pending_requests,
    requests_by_ids,
)
from storage.notifications import inbox_version
from storage.page_queries import case_events
from storage.presence import REFRESH_MS, heartbeat, others_on
from storage.snippets import delete_snippet, list_snippets, save_snippet

QUEUE_SIZE = 100  # rows in the queue (it scrolls inside itself); the rest: narrow the filters
LIST_HEIGHT = 560
LAST_EVENTS = 4
db = get_db()
tz = operator_tz()
ss = st.session_state
within = settings.answer_within_ms()
me = operator()

# -- the view, kept in the URL --------------------------------------------------------------
from_url = filter_from_query(st.query_params.to_dict(), me)
if ss.get("inbox_url") != query_from_filter(from_url):  # a link, a reload, back or forward
    ss["inbox_view"] = from_url.flt.view
    ss["inbox_q"] = from_url.flt.text
    ss["inbox_sort"] = from_url.sort
    ss["inbox_request"] = from_url.request
    ss["inbox_url"] = query_from_filter(from_url)


def current_query() -> InboxQuery:
    return InboxQuery(
        InboxFilter(view=ss.get("inbox_view") or "all", me=me, text=ss.get("inbox_q", "")),
        ss.get("inbox_sort") or "due",
        ss.get("inbox_request"),
    )


def keep_in_url() -> None:
    wanted = query_from_filter(current_query())
    if wanted != st.query_params.to_dict():
        st.query_params.from_dict(wanted)
    ss["inbox_url"] = wanted


f0, f1, f2, f3 = st.columns([1.3, 2.2, 3, 1.5], vertical_alignment="bottom")
f0.title("Inbox")


def new_filter() -> None:
    """Another view, search or order: a question that is no longer waiting (kept open after
    someone else answered it) gives way to the new list's first."""
    if ss.get("inbox_request") not in ss.get("inbox_known", set()):
        ss["inbox_request"] = None
    keep_in_url()


f1.segmented_control(
    "Show", VIEWS, format_func=VIEW_LABELS.get, key="inbox_view", on_change=new_filter
)
f2.text_input(
    "Search questions",
    key="inbox_q",
    on_change=new_filter,
    placeholder="e.g. W-9, vendor_2048, Maya, Monday",
)
f3.selectbox(
    "Order", list(SORTS), format_func=SORT_LABELS.get, key="inbox_sort", on_change=new_filter
)
query = current_query()


def tell_presence() -> None:
    """This Inbox is open, on this question, and when its operator last typed there: written
    when that changes, and every ``REFRESH_MS`` while the page stays open."""
    if me is None:
        return
    request = ss.get("inbox_request")
    typed_on, typed_at = ss.get("typing") or (None, None)
    state = (me, request, typed_at if typed_on == request else None)
    told, told_at = ss.get("presence_told") or (None, 0)
    if state != told or now_ms() - told_at >= REFRESH_MS:
        heartbeat(db, session_token(), me, request, state[2])
        ss["presence_told"] = (state, now_ms())


def presence_shown(present: dict) -> dict[str, str]:
    """Question id -> who else is on it, in words, for the questions this page lists and the
    one it has open (the key script writes them into the rows and the pane)."""
    on_page = set(ss.get("inbox_order", [])) | {ss.get("inbox_request")}
    return {r: presence_words(present[r]) for r in on_page if present.get(r)}


# -- which question is selected --------------------------------------------------------------
ss["inbox_version"] = inbox_version(db)  # read first: a change from here on redraws the page
waiting_ids = pending_ids(db)
if "inbox_known" in ss:  # questions that came since this tab's last run: a toast names them
    arrived = sorted(
        requests_by_ids(db, sorted(waiting_ids - ss["inbox_known"]), within_ms=within).values(),
        key=lambda r: (r["requested_at"] or 0, r["input_request_id"]),
    )
    if arrived:  # outside text (the case's reference, counterparty, objective): made literal
        st.toast(literal(arrivals_note(arrived)), icon=":material/mark_email_unread:")
ss["inbox_known"] = waiting_ids
total = pending_count(db, query.flt)
rows = pending_requests(db, QUEUE_SIZE, 0, within_ms=within, flt=query.flt, sort=query.sort)
shown = [row["input_request_id"] for row in rows]
selected = ss.get("inbox_request")
sent_here = selected is not None and getattr(ss.get(f"outcome_{selected}"), "ok", False)
if selected not in shown and (selected is None or sent_here):
    # Nothing chosen yet, or this tab just answered it: the next question in the order the
    # operator saw. A question someone else answered stays (its answer and the draft show).
    selected = next_after(selected, ss.get("inbox_order", []), shown) if selected else None
    selected = selected or (shown[0] if shown else None)
ss["inbox_order"] = shown
ss["inbox_request"] = selected
keep_in_url()
try:  # at once: another operator's Inbox shows it within its next 2 s tick
    tell_presence()
except StorageError:  # a courtesy to the others: the page goes on; the next tick tries again
    pass
present = others_on(db, me)


def choose(request_id: str) -> None:
    ss["inbox_request"] = request_id


# -- ticks: one answer to several questions ------------------------------------------------
# Ticks follow the question (its input request id), never a row position: the queue changes
# whenever anyone answers.


def ticked() -> list[str]:
    return ss.setdefault("bulk_ticked", [])


def toggle(request_id: str) -> None:
    chosen = [r for r in ticked() if r != request_id]
    if ss.get(f"bulk_pick_{request_id}"):
        chosen.append(request_id)
    ss["bulk_ticked"] = chosen
    ss.pop("bulk_results", None)  # a new selection: the last send's results are done with


def clear_ticks() -> None:
    for request_id in ticked():
        ss.pop(f"bulk_pick_{request_id}", None)
    ss["bulk_ticked"] = []
    ss["bulk_dropped"] = []


# -- the queue -------------------------------------------------------------------------------


def queue() -> None:
    now = now_ms()
    overdue = sum(1 for row in rows if row["due_at"] is not None and row["due_at"] <= now)
    caption = f"{total} waiting" + (f", {overdue} overdue" if overdue else "")
    if total > len(rows):
        caption += f" · the first {len(rows)} shown: search or filter for the others"
    st.caption(caption + f" · {SORT_LABELS[query.sort].lower()} first.")
    if not rows:
        if query.flt == InboxFilter(me=me):
            st.info("No questions are waiting. New ones appear here on their own.")
        else:
            st.info("No waiting question matches these filters.")
        return
    with st.container(height=LIST_HEIGHT, key="inbox_list", border=False):
        for row in rows:
            request_id = row["input_request_id"]
            due, late, text = queue_row(row, now)
            ss[f"bulk_pick_{request_id}"] = request_id in ticked()
            with st.container(
                key=f"row_{request_id}",
                horizontal=True,
                vertical_alignment="center",
                gap="small",
            ):
                st.checkbox(
                    "Tick for one answer to several",
                    key=f"bulk_pick_{request_id}",
                    on_change=toggle,
                    args=(request_id,),
                    label_visibility="collapsed",
                )
                st.button(
                    due,
                    key=f"open_{request_id}",
                    on_click=choose,
                    args=(request_id,),
                    type="primary" if request_id == selected else "secondary",
                    icon=":material/alarm:" if late else ":material/schedule:",
                    width=150,
                )
                outside.text(text)  # outside text: shown as written, never markdown
    st.caption(KEYS_HELP)


# -- the selected question ---------------------------------------------------------------------


def _assign(request_id: str, assignee: str | None) -> None:
    words = refused("assign")
    if words:
        ss[f"assign_note_{request_id}"] = words
        return
    _, message = assign(db, request_id, assignee, operator())
    ss[f"assign_note_{request_id}"] = message


def _assign_chosen(request_id: str) -> None:
    chosen = (ss.get(f"assignee_{request_id}") or "").strip()
    ss[f"assignee_{request_id}"] = None
    if chosen:
        _assign(request_id, chosen)


def assignment(row: dict) -> None:
    """Whose question it is, and the buttons that change it (each change audited)."""
    request_id = row["input_request_id"]
    row_of = st.container(horizontal=True, vertical_alignment="center", gap="small")
    with row_of:
        outside.text(f"Assigned to: {row['assigned_to'] or 'nobody'}")
    others = [n for n in assignable(db) if not same_person(n, row["assigned_to"])]
    row_of.selectbox(
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
        width=200,
    )
    if not same_person(row["assigned_to"], me):
        row_of.button(
            "Assign to me",
            key=f"assign_me_{request_id}",
            on_click=_assign,
            args=(request_id, me),
            disabled=me is None,
        )
    if row["assigned_to"]:
        row_of.button(
            "Unassign", key=f"unassign_{request_id}", on_click=_assign, args=(request_id, None)
        )
    assign_note = ss.pop(f"assign_note_{request_id}", None)
    if assign_note:  # it names an operator: shown as text
        outside.text(assign_note)


def answered_here(row: dict) -> None:
    """A question no longer waiting: what went to Offload, who sent it and when; a draft this
    tab had typed stays, marked not sent."""
    outcome = ss.get(f"outcome_{row['input_request_id']}")
    if outcome is not None:  # this tab's own try, e.g. it lost the race
        show_outcome(outcome)
    if row["status"] == "ANSWERED":
        how = " (by e-mail)" if row.get("answered_via") == "e-mail" else ""
        st.success(
            literal(
                f"Answered by {row['answered_by'] or 'someone'}{how} at "
                f"{when(row['answered_at'], tz)}"
            )
        )
        st.caption("What was sent to Offload:")
        outside.text(row["answer"] or "(not recorded)")
    else:
        st.info(literal(why_not_pending(row)))
    draft = kept_draft(row["input_request_id"])
    if draft:  # the operator's own text, in a code block: shown as typed, with a copy button
        with st.container(key=f"draft_{row['input_request_id']}"):
            st.caption("Your draft (not sent): copy it to use it elsewhere")
            st.code(draft, language=None, wrap_lines=True)


def detail(request_id: str, snippets: list[dict]) -> None:
    row = requests_by_ids(db, [request_id], within_ms=within).get(request_id)
    if row is None:
        st.warning(literal(f"No question {request_id} in the console's database."))
        return
    now = now_ms()
    with st.container(key="inbox_detail"):
        # One line each, whatever the question: the answer box below never moves. Who else is
        # on it is written into the head by the key script every 2 s, no redraw (an attribute
        # CSS shows: text, never markup).
        with st.container(
            key="inbox_head", horizontal=True, vertical_alignment="center", gap="small"
        ):
            if row["status"] == "PENDING":
                due, late = due_words(row["due_at"], now)
                st.badge(due, color="red" if late else "green")
            st.caption(
                f"Asked {when(row['requested_at'], tz)} · waited "
                f"{duration(now - (row['requested_at'] or now))}"
            )
        with st.container(key="inbox_caseline"):
            outside.text(case_line(row))
        with st.container(key="inbox_question", border=True):
            outside.text(row["question"] or "(Offload sent no question text)")
        if row["status"] == "PENDING":
            answer_box(row, snippets)
            assignment(row)
        else:
            answered_here(row)
        facts = question_facts(row)
        with st.expander("The case", expanded=True):
            outside.text("\n".join(f"{k}: {v}" for k, v in facts.items()))
            st.page_link(
                "app_pages/case.py",
                label="Open the timeline",
                query_params={"case": row["case_id"]},
                icon=":material/timeline:",
            )
            events = case_events(db, row["case_id"])[-LAST_EVENTS:]
            if events:
                st.caption(f"Last {plural(len(events), 'event')}:")
                outside.text(
                    "\n".join(
                        f"{when(e['state_ts'] or e['received_at'], tz)}  {event_summary(e)}"
                        for e in events
                    )
                )
        earlier = [
            q for q in case_questions(db, row["case_id"]) if q["input_request_id"] != request_id
        ]
        if earlier:
            with st.expander(f"Earlier questions on this case ({len(earlier)})"):
                for q in earlier:
                    outside.text(earlier_question_text(q, tz))


# -- one answer to several ---------------------------------------------------------------


def bulk_send(request_ids: tuple[str, ...]) -> None:
    """Send the text in the box at the click (read here, in the callback: what the page drew
    before may be an older draft) to exactly the ticked questions, each once; any that left
    the inbox since is not sent, and the results say so."""
    text = ss.get("bulk_answer") or ""
    refused = refusal_before_sending()
    if refused is None and not text.strip():
        refused = EMPTY
    if refused is not None:
        ss["bulk_results"] = [
            {
                "case": "",
                "question": "",
                "sent": False,
                "text": "",
                "what happened": refused.message,
            }
        ]
        return
    try:
        sent = send_to_many(
            db, get_client(), list(request_ids), operator(), text, session=session_token()
        )
    except StorageError:
        ss["bulk_results"] = [
            {"case": "", "question": "", "sent": False, "text": "", "what happened": BUSY.message}
        ]
        return
    results = [
        {
            "case": case_line(r.row) if r.row else r.request_id,
            "question": (r.row or {}).get("question") or "",
            "sent": r.sent,
            "text": text.strip() if r.sent else "",
            "what happened": r.message,
        }
        for r in sent
    ]
    ss["bulk_results"] = results
    # The ones that went are done; the others stay ticked, with the text, to send again.
    unsent = [r.request_id for r in sent if not r.sent and r.row and r.row["status"] == "PENDING"]
    clear_ticks()
    ss["bulk_ticked"] = unsent
    if not unsent:
        ss["bulk_answer"] = ""


def bulk_pane() -> None:
    pending = {r["input_request_id"]: r for r in rows}
    # Ticked questions that have left the inbox since: dropped, and said so until the next
    # send (the live Inbox redraws in the background: the note must not vanish with it).
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
            outside.text(f"{case_line(row) if row else request_id}: {why_not_pending(row)}")
    chosen = [r for r in ticked() if r in pending]
    st.subheader(f"One answer for {plural(len(chosen), 'question')}")
    st.button("Clear the ticks", key="bulk_clear", on_click=clear_ticks, type="tertiary")
    text = st.text_area(
        "One answer for every ticked question",
        key="bulk_answer",
        height=110,
        placeholder="Type the answer each ticked case should get",
        help=TRIMMED,
    )
    if not chosen:
        return
    st.button(
        f"Send to {plural(len(chosen), 'question')}",
        key="bulk_send",
        type="primary",
        on_click=bulk_send,
        args=(tuple(chosen),),
        # Never disabled for an empty box: the box's text reaches the server with the click
        # (a button disabled until then swallowed the first click); the callback checks it.
        disabled=operator() is None,
    )
    st.caption(f"Preview: {plural(len(chosen), 'case')}, each question and the answer it gets.")
    with st.container(key="bulk_preview", height=300, border=False):
        for request_id in chosen:
            row = pending[request_id]
            with st.container(border=True):
                outside.text(case_line(row))
                outside.text(
                    f"Q: {row['question']}\nA: {text.strip() or '(type the answer above)'}"
                )


def bulk_results() -> None:
    # Kept until the next tick, so a background redraw does not take them away.
    results = ss.get("bulk_results")
    if results:
        sent = sum(r["sent"] for r in results)
        st.success(f"Sent to {plural(sent, 'question')} of {len(results)}.")
        with st.container(key="bulk_results", border=True):
            for result in results:  # outside text (cases, questions): shown as written
                outside.text(
                    ("Sent" if result["sent"] else "Not sent")
                    + (f" · {result['case']}" if result["case"] else "")
                    + f"\n{result['what happened']}"
                    + (f"\nWhat went to Offload: {result['text']}" if result["text"] else "")
                )


# -- the page ----------------------------------------------------------------------------------


def question_label(request_id: str) -> str:
    row = requests_by_ids(db, [request_id]).get(request_id)
    return row["client_reference_id"] or row["case_id"] if row else request_id


left, right = st.columns([6, 5], gap="medium")
with left:
    queue()
with right:
    if me is None:
        st.warning("Enter your name in the sidebar to answer questions.")
    show_last_departed(set(shown) | ({selected} if selected else set()), question_label)
    bulk_results()
    if ticked() or ss.get("bulk_dropped"):
        bulk_pane()
    elif selected:
        detail(selected, list_snippets(db))

if st.toggle("Saved replies", key="inbox_snippets_open"):
    for snippet in list_snippets(db):
        c1, c2 = st.columns([5, 1])
        with c1:
            outside.text(f"{snippet['name']}: {snippet['text']}")
        if c2.button("Delete", key=f"del_snippet_{snippet['name']}", disabled=operator() is None):
            if words := refused("answer"):
                st.error(literal(words))
            else:
                delete_snippet(db, snippet["name"], operator())
                st.rerun()
    with st.form("new_snippet", clear_on_submit=True):
        name = st.text_input("Name")
        body = st.text_area("Reply text")
        if st.form_submit_button("Save reply", disabled=operator() is None):
            if words := refused("answer"):
                st.error(literal(words))
            elif name.strip() and body.strip():
                save_snippet(db, name.strip(), body.strip(), operator())
                st.rerun()
            else:
                st.error("A saved reply needs a name and a text.")


# -- live: who else is here, new questions, the keys ---------------------------------------


def _draft_reported() -> None:
    report = getattr(ss.get("inbox_keys"), "draft", None) or {}
    if report.get("request"):
        keep_draft(report["request"], str(report.get("text") or ""))
        ss["typing"] = (report["request"], now_ms())


@st.fragment(run_every="2s")
def watch() -> None:
    """Every 2 s: say this Inbox is still open, read who else is on which question (the key
    script writes it into the rows and the pane, no redraw), and one counter: only when it
    moved (a question came, went or changed hands) does the page redraw. Typed answers live in
    session state and survive the redraw."""
    drawing = ss.get("inbox_drawing")  # part of the page's own run, which read it all
    try:
        if not drawing:
            tell_presence()
        shown = presence_shown(present if drawing else others_on(db, me))
        version = ss["inbox_version"] if drawing else inbox_version(db)
    except StorageError as exc:  # the page stays as it is; the next tick tries again
        paused(exc)
        return
    inbox_keys(ss.get("inbox_request"), shown, on_draft=_draft_reported)
    if version != ss.get("inbox_version"):
        st.rerun(scope="app")


ss["inbox_drawing"] = True
try:
    watch()
finally:
    ss["inbox_drawing"] = False
