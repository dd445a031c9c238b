"""Audit: every operator action, newest first."""

import pandas as pd
import streamlit as st

from dashboard.data import get_db, operator_tz
from dashboard.format import when
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
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "when": when(r["at"], tz),
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
    )
    st.caption(f"Newest {len(rows)} entries.")
