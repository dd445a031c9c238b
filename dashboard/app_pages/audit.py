"""Audit: every operator action, newest first."""

import pandas as pd
import streamlit as st

from dashboard import outside
from dashboard.format import plural, pretty_json, when
from dashboard.session import get_db, operator_tz
from offload_console.redact import redact
from storage.audit import audit_actions, list_audit

db = get_db()
tz = operator_tz()
st.title("Audit")
st.caption("Who did what, when: cases sent, answers, templates, exports, accounts, sign-ins.")
c1, c2, c3 = st.columns(3)
action = c1.selectbox(
    "Action", audit_actions(db), index=None, key="audit_action", placeholder="any"
)
who = c2.text_input("Operator", key="audit_operator")
case_id = c3.text_input("Case id", key="audit_case")
rows = list_audit(
    db, action=action, operator=who.strip() or None, case_id=case_id.strip() or None, limit=500
)
if not rows:
    st.info("Nothing recorded for these filters.")
else:

    def picked() -> None:
        """A click's row position is in the table as it was drawn: map it to that entry."""
        shown = st.session_state.get("audit_shown_ids", [])
        chosen = st.session_state["audit_table"].selection.rows
        st.session_state["audit_selected_id"] = (
            shown[chosen[0]] if chosen and chosen[0] < len(shown) else None
        )

    st.session_state["audit_shown_ids"] = [r["id"] for r in rows]
    outside.dataframe(
        pd.DataFrame(
            [
                {
                    "when": when(r["at"], tz, seconds=True),
                    "operator": r["operator"] or "",
                    "action": r["action"],
                    "case": r["case_id"] or "",
                    "about": r["target"] or "",
                    "detail": r["detail"] or "",
                }
                for r in rows
            ]
        ),
        hide_index=True,
        on_select=picked,
        selection_mode="single-row",
        key="audit_table",
    )
    st.caption(
        f"Newest {plural(len(rows), 'entry', 'entries')}. Select a row to read its detail whole."
    )
    selected = st.session_state.get("audit_selected_id")
    row = next((r for r in rows if r["id"] == selected), None)
    if row is not None:
        outside.text(f"{row['action']} by {row['operator']} at {when(row['at'], tz, seconds=True)}")
        st.code(redact(pretty_json(row["detail"])) or "(no detail)", language="json")
