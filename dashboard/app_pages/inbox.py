"""Inbox: every question waiting on a human, oldest first, and where to answer it."""

import math

import pandas as pd
import streamlit as st

from dashboard.data import get_client, get_db, operator, operator_tz
from dashboard.format import attempts, duration, json_list, local_now, when
from offload_console.answers import send_answer
from storage import now_ms
from storage.inbox import (
    CLAIM_STALE_MS,
    case_questions,
    delete_snippet,
    list_snippets,
    pending_by_ids,
    pending_count,
    pending_requests,
    save_snippet,
)

PAGE_SIZE = 10
db = get_db()
tz = operator_tz()

st.title("Inbox")
st.caption("Questions Offload's agent cannot answer alone. Each answer goes to Offload once.")


def answer_key(request_id: str) -> str:
    return f"answer_{request_id}"


def send(request_id: str) -> None:
    """Button callback: runs before the rerun, so the outcome and a cleared box show at once."""
    me = operator()
    outcome = send_answer(
        db, get_client(), request_id, me, st.session_state.get(answer_key(request_id), "")
    )
    st.session_state[f"outcome_{request_id}"] = outcome
    if not outcome.keep_text:
        st.session_state[answer_key(request_id)] = ""


def insert_snippet(request_id: str) -> None:
    chosen = st.session_state.get(f"snippet_{request_id}")
    texts = {s["name"]: s["text"] for s in list_snippets(db)}
    if chosen in texts:
        current = st.session_state.get(answer_key(request_id), "")
        st.session_state[answer_key(request_id)] = (current + "\n" + texts[chosen]).strip()
    st.session_state[f"snippet_{request_id}"] = None


def show_outcome(outcome) -> None:
    if outcome.ok:
        st.success(outcome.message)
    elif outcome.kind in ("taken", "closed", "empty"):
        st.warning(outcome.message)
    else:
        st.error(outcome.message)
    if outcome.detail:
        st.code(outcome.detail, language=None, wrap_lines=True)


def render_request(row: dict, snippets: list[dict]) -> None:
    request_id = row["input_request_id"]
    now = now_ms()
    with st.container(border=True, key=f"request_{abs(hash(request_id))}"):
        left, right = st.columns([1, 1])
        with left:
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
                    st.dataframe(
                        pd.DataFrame(
                            [
                                {
                                    "asked": when(q["requested_at"], tz),
                                    "question": q["question"],
                                    "answer": q["answer"] or "",
                                    "answered by": q["answered_by"] or "",
                                    "status": q["status"],
                                }
                                for q in earlier
                            ]
                        ),
                        hide_index=True,
                    )
        with right:
            facts = {
                "Objective": row["objective"] or "",
                "Counterparty": " ".join(
                    filter(
                        None,
                        [
                            row["counterparty_name"],
                            f"<{row['counterparty_address']}>"
                            if row["counterparty_address"]
                            else None,
                            f"({row['counterparty_company']})"
                            if row["counterparty_company"]
                            else None,
                        ],
                    )
                ),
                "Their local time": local_now(row["counterparty_timezone"]),
                "Attempts": attempts(row["attempt_count"], row["max_attempts"]),
                "Constraints": "; ".join(map(str, json_list(row["constraints"]))) or "none",
                "Reference": row["client_reference_id"] or "",
            }
            st.text("\n".join(f"{k}: {v}" for k, v in facts.items()))
            st.page_link(
                "app_pages/case.py",
                label="Open timeline",
                query_params={"case": row["case_id"]},
                icon=":material/timeline:",
            )
        claimed_by = row["claimed_by"]
        if (
            claimed_by
            and claimed_by != operator()
            and (row["claimed_at"] or 0) > now - CLAIM_STALE_MS
        ):
            st.warning("Another operator is answering this question:")
            st.text(claimed_by)
        st.text_area(
            "Your answer",
            key=answer_key(request_id),
            height=90,
            placeholder="Type the answer Offload should pass on",
        )
        cols = st.columns([1, 2, 3])
        cols[0].button(
            "Send answer",
            key=f"send_{request_id}",
            type="primary",
            on_click=send,
            args=(request_id,),
            disabled=operator() is None,
            help=None if operator() else "Enter your name in the sidebar first.",
        )
        if snippets:
            cols[1].selectbox(
                "Insert saved reply",
                [s["name"] for s in snippets],
                index=None,
                key=f"snippet_{request_id}",
                on_change=insert_snippet,
                args=(request_id,),
                label_visibility="collapsed",
                placeholder="Insert saved reply…",
            )
        outcome = st.session_state.get(f"outcome_{request_id}")
        if outcome is not None:
            show_outcome(outcome)


@st.fragment(run_every="10s")
def inbox() -> None:
    total = pending_count(db)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = 1
    if pages > 1:
        page = st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, key="inbox_page")
    rows = pending_requests(db, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    shown = {row["input_request_id"] for row in rows}
    # What happened to questions that have left the inbox since the operator acted on them.
    for key in [k for k in st.session_state if str(k).startswith("outcome_")]:
        if key.removeprefix("outcome_") not in shown:
            show_outcome(st.session_state.pop(key))
    if total == 0:
        st.info("No questions are waiting. New ones appear here on their own.")
        return
    st.caption(f"{total} waiting, oldest first.")
    snippets = list_snippets(db)
    for row in rows:
        render_request(row, snippets)


if operator() is None:
    st.warning("Enter your name in the sidebar to answer questions.")
inbox()


# Drawn only when asked for: a table of every pending question is heavy to load.
if st.toggle("Answer several similar questions at once", key="inbox_bulk_open"):
    rows = pending_requests(db, 200, 0)
    if not rows:
        st.caption("Nothing waiting.")
    else:
        table = pd.DataFrame(
            [
                {
                    "question": r["question"],
                    "counterparty": r["counterparty_name"],
                    "reference": r["client_reference_id"],
                    "request": r["input_request_id"],
                }
                for r in rows
            ]
        )
        picked = st.dataframe(
            table, hide_index=True, on_select="rerun", selection_mode="multi-row", key="bulk_pick"
        )
        chosen = [rows[i]["input_request_id"] for i in picked.selection.rows]
        text = st.text_area("One answer for every selected question", key="bulk_answer")
        if chosen and text.strip():
            st.caption("Preview: each question and the answer it will get.")
            for r in pending_by_ids(db, chosen):
                with st.container(border=True):
                    st.text(r["question"])
                    st.text("→ " + text.strip())
            if st.button(
                f"Send to {len(chosen)} questions", disabled=operator() is None, key="bulk_send"
            ):
                results = []
                for request_id in chosen:
                    outcome = send_answer(db, get_client(), request_id, operator(), text)
                    results.append(
                        {
                            "request": request_id,
                            "sent": outcome.ok,
                            "what happened": outcome.message,
                        }
                    )
                st.dataframe(pd.DataFrame(results), hide_index=True)

if st.toggle("Saved replies", key="inbox_snippets_open"):
    for snippet in list_snippets(db):
        c1, c2 = st.columns([5, 1])
        c1.text(f"{snippet['name']}: {snippet['text']}")
        if c2.button("Delete", key=f"del_snippet_{snippet['name']}"):
            delete_snippet(db, snippet["name"], operator())
            st.rerun()
    with st.form("new_snippet", clear_on_submit=True):
        name = st.text_input("Name")
        body = st.text_area("Reply text")
        if st.form_submit_button("Save reply"):
            if name.strip() and body.strip():
                save_snippet(db, name.strip(), body.strip(), operator() or "unknown")
                st.rerun()
            else:
                st.error("A saved reply needs a name and a text.")
