"""The Inbox's keyboard and typing signal: a small custom component (Streamlit's own
``st.components.v2``, no iframe, no package to keep) whose script, ``keys.js``, listens for
the answer keys and reports the operator's draft while they type. Streamlit's widgets offer
neither: a text area tells the server its text only on a blur or Ctrl+Enter, and no widget
can send from a key. Kept components (streamlit-shortcuts and the like) bind keys to buttons
but report no typing, so this is the smaller whole."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

KEYS_HELP = (
    "Keys: Ctrl+Enter (⌘+Enter) sends · Alt+↓ / Alt+↑ next / previous question "
    "(j / k outside the box) · Esc leaves the box"
)

_component = st.components.v2.component(
    "offload_inbox_keys",
    js=Path(__file__).with_name("keys.js").read_text(),
)


def inbox_keys(selected: str | None, presence: dict[str, str], on_draft) -> None:
    """Mount the keys (once per page run and every tick); ``presence``: question id -> who else
    is on it, in words, which the script writes into those rows and the pane (as an attribute
    CSS shows: outside text, never markup). ``on_draft`` runs when a draft report arrives
    (``st.session_state["inbox_keys"].draft``: ``{"request", "text", "at"}``)."""
    _component(
        key="inbox_keys",
        data={"selected": selected, "presence": presence},
        default={"draft": None},
        height=0,
        on_draft_change=on_draft,
    )
