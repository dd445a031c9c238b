"""Overview: a placeholder until the Inbox, Cases and Case timeline pages land."""

import streamlit as st

from dashboard.data import get_db
from storage.deliveries import health_summary

st.title("Offload console")
st.caption("Inbox, Cases, Case timeline, New case and Export are on their way.")
summary = health_summary(get_db())
cols = st.columns(4)
cols[0].metric("Cases", summary["counts"]["cases"])
cols[1].metric("Events", summary["counts"]["events"])
cols[2].metric("Pending questions", summary["pending_input_requests"])
cols[3].metric("Refused deliveries", summary["counts"]["rejected_deliveries"])
