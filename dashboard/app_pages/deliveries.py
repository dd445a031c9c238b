"""Deliveries: what happened to every webhook the sidecar received, newest first."""

import pandas as pd
import streamlit as st

from dashboard import outside
from dashboard.auth import operator
from dashboard.format import plural, when
from dashboard.session import get_db, operator_tz
from storage.case_filter import day_start_ms
from storage.deliveries import (
    OUTCOMES,
    DeliveryFilter,
    event_types_seen,
    failed_projections,
    list_deliveries,
    rejected_body,
    reproject,
)

LIMIT = 500
db = get_db()
tz = operator_tz()
ss = st.session_state

st.title("Deliveries")
st.caption(
    "Every webhook delivery the sidecar answered: stored, a duplicate of one already stored, "
    "or refused (with the status it got and why). Offload never resends, so a refused one is "
    "repaired only by the reconciler's polling."
)
f1, f2, f3, f4 = st.columns([3, 2, 2, 2])
outcomes = f1.multiselect("Outcome", OUTCOMES, key="dl_outcomes", placeholder="any outcome")
event_type = f2.selectbox(
    "Event type", event_types_seen(db), index=None, key="dl_type", placeholder="any type"
)
case_id = f3.text_input("Case id", key="dl_case", placeholder="e.g. a case's id")
since = f4.date_input("Received since", value=None, key="dl_since")
flt = DeliveryFilter(
    outcomes=list(outcomes),
    event_type=event_type or "",
    case_id=case_id,
    since_ms=day_start_ms(since) if since else None,
)
rows = list_deliveries(db, flt, limit=LIMIT)
st.caption(
    f"{plural(len(rows), 'delivery', 'deliveries')}, newest first"
    + (f" (the newest {LIMIT})" if len(rows) == LIMIT else "")
    + ". Select a refused one to read its body."
)
table = pd.DataFrame(
    [
        {
            "received": when(r["received_at"], tz, seconds=True),
            "outcome": r["outcome"],
            "status": r["status_code"],
            "event type": r["event_type"] or "",
            "case": f"/case?case={r['case_id']}" if r["case_id"] else None,
            "reason": r["reason"] or "",
        }
        for r in rows
    ],
    columns=["received", "outcome", "status", "event type", "case", "reason"],
)
picked = outside.dataframe(
    table,
    hide_index=True,
    on_select="rerun",
    selection_mode="single-row",
    key="dl_table",
    column_config={
        "received": st.column_config.TextColumn(width=170),
        "outcome": st.column_config.TextColumn(width=120),
        "status": st.column_config.NumberColumn(width=60, format="%d"),
        "case": st.column_config.LinkColumn(display_text=r"/case\?case=(.*)", width=290),
        "reason": st.column_config.TextColumn(width="large"),
    },
)
chosen = picked.selection.rows if picked else []
if chosen and chosen[0] < len(rows):
    row = rows[chosen[0]]
    if row["rejected_id"] is not None:
        body = rejected_body(db, row["rejected_id"])
        if body is None:
            st.info("Its body is no longer kept (only the newest refused bodies are).")
        else:
            st.caption(
                f"Refused body, {plural(body['body_size'] or 0, 'byte')}"
                + (" (the first 64 KiB)" if (body["body_size"] or 0) > 65536 else "")
                + ", shown as text:"
            )
            st.code(body["body_excerpt"] or "", language=None, wrap_lines=True)
            st.download_button(
                "Download the body",
                data=(body["body_excerpt"] or "").encode("utf-8"),
                file_name=f"refused-delivery-{body['id']}.txt",
                mime="text/plain",
                key="dl_download",
            )
    elif row["outcome"] == "projection failed":
        st.warning("Stored, but applying it to its case failed (a bug): the event is kept.")
        st.code(row["reason"] or "", language=None, wrap_lines=True)

# -- events to apply again ----------------------------------------------------------------
failed = failed_projections(db)
st.subheader("Stored events that could not be applied")
if not failed:
    st.caption("None: every stored event has been applied to its case.")
else:
    st.caption(
        f"{plural(len(failed), 'event')} kept but not applied to their cases (a bug). After an "
        "upgrade that fixes it, apply them again (or run `offload-console reproject`)."
    )
    outside.dataframe(
        pd.DataFrame(failed)[["event_id", "event_type", "case_id", "projection_error"]],
        hide_index=True,
    )
    if st.button(
        "Apply them again", key="dl_reproject", type="primary", disabled=operator() is None
    ):
        ss["dl_results"] = reproject(db, operator())
        st.rerun()
results = ss.pop("dl_results", None)
if results:
    st.success(
        f"Applied {plural(sum(r['outcome'] == 'applied' for r in results), 'event')} "
        f"of {len(results)}."
    )
    outside.dataframe(pd.DataFrame(results), hide_index=True)
