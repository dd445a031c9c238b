"""The answer box: one pending question's answer field and Send button, the same on the Inbox
and on the case timeline (the same claim, the same exactly-once send)."""

from __future__ import annotations

import dataclasses

import streamlit as st

from dashboard import outside
from dashboard.auth import operator, refused, still_signed_in
from dashboard.format import literal, shortened, when
from dashboard.inbox_view import presence_words
from dashboard.session import get_client, get_db, operator_tz, session_token
from offload_console.answers import BUSY, AnswerOutcome, send_answer
from offload_console.assignment import same_person
from storage import StorageError, now_ms
from storage.inbox import claim_is_fresh, get_request
from storage.presence import draft_of, drop_draft, others_on, save_draft
from storage.snippets import list_snippets

ss = st.session_state


def answer_key(request_id: str) -> str:
    return f"answer_{request_id}"


def someone_elses(assigned_to: str | None, me: str | None) -> bool:
    return bool(assigned_to) and not same_person(assigned_to, me)


def _send(request_id: str) -> None:
    """Button callback: runs before the rerun, so the outcome and a cleared box show at once.
    Callbacks run before the page's sign-in gate, so the account is checked here, where the
    send happens. A question assigned to another operator (now, not only when the page was
    drawn) is sent only once the operator has confirmed."""
    refused = refusal_before_sending()
    if refused is not None:
        ss[f"outcome_{request_id}"] = refused
        return
    try:
        current = get_request(get_db(), request_id)
    except StorageError:
        ss[f"outcome_{request_id}"] = BUSY
        return
    reason = None if ss.get(f"confirm_{request_id}") else _ask_first(current, request_id)
    if reason is not None:
        ss[f"outcome_{request_id}"] = AnswerOutcome(
            ok=False,
            kind="confirm",
            message=f"{reason} Tick “Send it anyway” and send again, or leave it to them. "
            "Your answer is still in the box.",
        )
        ss[f"confirm_needed_{request_id}"] = True
        return
    text = ss.get(answer_key(request_id), "")
    outcome = send_answer(
        get_db(), get_client(), request_id, operator(), text, session=session_token()
    )
    if outcome.ok:
        forget_draft(request_id)
    if outcome.ok and outcome.detail is None:  # what went, by whom, when: it stays visible
        outcome = dataclasses.replace(
            outcome,
            message=f"Answer sent by {operator()} at "
            f"{when(now_ms(), operator_tz(), seconds=True)}. Offload resumes the case; what "
            "went to Offload:",
            detail=text.strip(),
        )
    ss[f"outcome_{request_id}"] = outcome
    if not outcome.keep_text:
        if not outcome.ok and text.strip():  # answered by someone else first: a draft, not sent
            keep_draft(request_id, text)
        ss[answer_key(request_id)] = ""


def _ask_first(current: dict | None, request_id: str) -> str | None:
    """Why a Send should be confirmed first (None: it need not): the question is assigned to
    another operator, or someone else is typing an answer to it right now."""
    if current is None:
        return None
    if someone_elses(current["assigned_to"], operator()):
        return "This question is assigned to another operator."
    try:
        people = others_on(get_db(), operator()).get(request_id, [])
    except StorageError:  # who is typing is a courtesy: it never blocks a send
        return None
    typing = [p for p in people if p.typing]
    if typing:
        return f"{presence_words(typing)} an answer to this question right now."
    return None


def keep_draft(request_id: str, text: str) -> None:
    """What the operator typed in a question's box, kept apart from the box (Streamlit forgets
    a box's text once the box is not drawn): in this tab and in the database, so a reload,
    another tab or another operator's answer never loses it."""
    if request_id in ss.get("sent_here", set()) or not operator():
        return  # a late report of a text already sent
    ss.setdefault("drafts", {})[request_id] = text
    try:
        save_draft(get_db(), operator(), request_id, text)
    except StorageError:  # kept in this tab; the next keystroke tries again
        pass


def kept_draft(request_id: str) -> str:
    """The operator's unsent text for a question: this tab's, else the database's."""
    text = ss.get("drafts", {}).get(request_id)
    if not text and ss.get(answer_key(request_id)):
        # The box's text reached the server (a blur) before the key script reported it, and
        # the box is not drawn any more: Streamlit forgets it after this run, this tab must not.
        text = ss.setdefault("drafts", {})[request_id] = ss[answer_key(request_id)]
    if not text and operator():
        try:
            text = draft_of(get_db(), operator(), request_id)
        except StorageError:
            text = None
    return (text or "").strip()


def forget_draft(request_id: str) -> None:
    ss.setdefault("sent_here", set()).add(request_id)
    ss.get("drafts", {}).pop(request_id, None)
    try:
        drop_draft(get_db(), operator(), request_id)
    except StorageError:  # an orphan draft shows only once the question is answered
        pass


def refusal_before_sending() -> AnswerOutcome | None:
    """Why this session may not send anything now (None: it may): its account was removed or
    its password changed since it signed in, or it has no operator name."""
    try:
        signed_in = still_signed_in()
    except StorageError:
        return BUSY
    if not signed_in:
        return AnswerOutcome(
            False,
            "signed_out",
            "Your account was removed or its password changed, so nothing was sent. Sign in "
            "again; your answer is kept in this tab until then.",
        )
    if not operator():
        return AnswerOutcome(False, "signed_out", "Enter your name in the sidebar first.")
    try:
        words = refused("answer")
    except StorageError:
        return BUSY
    if words:
        return AnswerOutcome(False, "role", words, keep_text=True)
    return None


def _insert_snippet(request_id: str) -> None:
    chosen = ss.get(f"snippet_{request_id}")
    texts = {s["name"]: s["text"] for s in list_snippets(get_db())}
    if chosen in texts:
        current = ss.get(answer_key(request_id), "")
        ss[answer_key(request_id)] = (current + "\n" + texts[chosen]).strip()
    ss[f"snippet_{request_id}"] = None


def show_outcome(outcome: AnswerOutcome) -> None:
    """The outcome in a coloured box. Its message names operators (names anyone may type where
    there is no sign-in), and the box renders markdown: every character of it is shown as
    written (``literal``)."""
    message = literal(outcome.message)
    if outcome.ok:
        st.success(message)
    elif outcome.kind in ("taken", "closed", "empty", "confirm", "in_flight", "signed_out", "role"):
        st.warning(message)
    else:
        st.error(message)
    if outcome.detail:
        st.code(outcome.detail, language=None, wrap_lines=True)


# Said beside every answer box: what is sent is the text without its outer whitespace.
TRIMMED = "Spaces and blank lines at the start and end are left out of what is sent."


def answer_box(row: dict, snippets: list[dict] | None = None) -> None:
    """``row``: a pending request with its case (``storage.inbox`` selects)."""
    request_id = row["input_request_id"]
    if row["claim_token"] not in (None, session_token()) and claim_is_fresh(row):
        if row["claimed_by"] == operator():
            st.warning("You are answering this question in another tab or window.")
        else:
            st.warning("Another operator is answering this question:")
            outside.text(row["claimed_by"])
    if someone_elses(row.get("assigned_to"), operator()) or ss.get(f"confirm_needed_{request_id}"):
        st.checkbox(
            "Send it anyway (assigned to another operator, or someone else is typing)",
            key=f"confirm_{request_id}",
        )
    if answer_key(request_id) not in ss:  # a reload, or back to this question: the draft
        ss[answer_key(request_id)] = kept_draft(request_id)
    st.text_area(
        "Your answer",
        key=answer_key(request_id),
        height=90,
        placeholder="Type the answer Offload should pass on",
        help=TRIMMED,
    )
    buttons = st.container(horizontal=True, vertical_alignment="center", gap="small")
    buttons.button(
        "Send answer",
        key=f"send_{request_id}",
        type="primary",
        on_click=_send,
        args=(request_id,),
        disabled=operator() is None,
        help=None if operator() else "Enter your name in the sidebar first.",
    )
    if snippets:
        buttons.selectbox(
            "Insert saved reply",
            [s["name"] for s in snippets],
            index=None,
            key=f"snippet_{request_id}",
            on_change=_insert_snippet,
            args=(request_id,),
            label_visibility="collapsed",
            placeholder="Insert saved reply…",
            width=220,
        )
    outcome = ss.get(f"outcome_{request_id}")
    if outcome is not None:
        show_outcome(outcome)


DEPARTED_SHOWN_MS = 60_000


def _departed(shown: set[str]) -> dict:
    """Outcomes of questions that left the page since the operator acted on them (key ->
    (outcome, when it left)), for a minute: the live page redraws in the background, and
    "Answer sent" must not vanish with the first redraw."""
    departed = ss.setdefault("departed_outcomes", {})
    for key in [k for k in ss if str(k).startswith("outcome_")]:
        if key.removeprefix("outcome_") not in shown:
            departed[key] = (ss.pop(key), now_ms())
    for key, (_, since) in list(departed.items()):
        if now_ms() - since > DEPARTED_SHOWN_MS:
            del departed[key]
    return departed


def show_departed_outcomes(shown: set[str]) -> None:
    for outcome, _ in _departed(shown).values():
        show_outcome(outcome)


def show_last_departed(shown: set[str], label) -> None:
    """The newest outcome of a question that left the page, on one line of a fixed height (so
    what comes below never moves), its whole text a click away; ``label(request_id)`` names
    the question's case."""
    departed = _departed(shown)
    with st.container(key="inbox_last", height=38, border=False):
        if not departed:
            return
        key, (outcome, _) = max(departed.items(), key=lambda item: item[1][1])
        request_id = key.removeprefix("outcome_")
        line = outcome.message.split(". ")[0].removesuffix(".")
        if outcome.detail:
            line += f": “{shortened(outcome.detail)}”"
        with st.container(
            key="inbox_last_line", horizontal=True, vertical_alignment="center", gap="small"
        ):
            st.caption(
                (":material/check_circle:" if outcome.ok else ":material/warning:")
                + " "
                + literal(f"{label(request_id)}: {line}")
            )
            with st.popover("See it whole", type="tertiary"):
                show_outcome(outcome)
