"""Cases: every case the console knows, filtered and paged in SQL. The filters live in the
URL, so a link opens the same view."""

import datetime as dt
import math
from dataclasses import astuple

import pandas as pd
import streamlit as st

from dashboard import outside
from dashboard.cases_view import filters_from_query, query_from_filters
from dashboard.format import counterparty_line, grouped_counts, short_when, when
from dashboard.session import get_db, operator_tz
from storage.case_filter import day_start_ms
from storage.page_queries import (
    STATUSES,
    CaseFilter,
    cases_per_day,
    completion_hours,
    database_path,
    list_page,
    status_counts,
    total_of,
    unknown_submissions,
)

PAGE_SIZE = 50
db = get_db()
tz = operator_tz()

ss = st.session_state

st.title("Cases")

# The URL holds the filters: on a link, a reload, back or forward, the widgets follow it.
url = {name: st.query_params.get_all(name) for name in st.query_params}
from_url = filters_from_query(url)
url_key = repr(sorted(query_from_filters(*from_url.values()).items()))
if ss.get("cases_url") != url_key:
    ss.update(from_url)
    ss["cases_url"] = url_key


def filters_changed() -> None:
    wanted = query_from_filters(
        ss["cases_status"], ss["cases_dates"], ss["cases_search"], ss["cases_attention"]
    )
    st.query_params.from_dict(wanted)
    ss["cases_url"] = repr(sorted(wanted.items()))


c1, c2, c3, c4 = st.columns([2, 2, 3, 2])
statuses = c1.multiselect("Status", STATUSES, key="cases_status", on_change=filters_changed)
dates = c2.date_input(
    "Created between", key="cases_dates", format="YYYY-MM-DD", on_change=filters_changed
)
text = c3.text_input(
    "Search",
    key="cases_search",
    placeholder="reference, counterparty, objective or case id",
    on_change=filters_changed,
)
attention = c4.toggle(
    "Needs attention",
    key="cases_attention",
    help="Waiting for input, or a state the reconciler had to repair",
    on_change=filters_changed,
)


@st.cache_data(ttl=60, show_spinner=False)
def charts(_db, db_path: str, fields: tuple) -> tuple[list, list]:
    """The two charts (last 60 days), recomputed at most once a minute per database and
    filter: they are the only parts of this page whose cost grows with history."""
    current = CaseFilter(list(fields[0]), *fields[1:])
    return cases_per_day(_db, current), completion_hours(_db, current)


flt = CaseFilter(statuses=list(statuses), text=text, needs_attention=attention)
if isinstance(dates, (tuple, list)) and len(dates) >= 1:
    flt.created_since_ms = day_start_ms(dates[0])
    flt.created_until_ms = day_start_ms(
        (dates[1] if len(dates) > 1 else dates[0]) + dt.timedelta(days=1)
    )

counts = status_counts(db, flt)
# Metric labels render markdown: only the five statuses Offload documents get one; any other
# status (an open string from outside) is counted under "Other".
shown_counts = grouped_counts(counts)
for column, (label, n) in zip(st.columns(len(shown_counts)), shown_counts.items(), strict=True):
    column.metric(label, f"{n:,}")

total = total_of(counts, flt)
pages = max(1, math.ceil(total / PAGE_SIZE))
page = (
    st.number_input(
        f"Page (of {pages:,}; {total:,} cases)", min_value=1, max_value=pages, key="cases_page"
    )
    if pages > 1
    else 1
)
rows = list_page(db, flt, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)

if not rows:
    st.info("No cases match these filters.")
else:
    table = pd.DataFrame(
        [
            {
                "open": f"case?case={r['case_id']}",
                "status": r["status"],
                "counterparty": counterparty_line(
                    r["counterparty_name"] or r["counterparty_address"],
                    None,
                    r["counterparty_company"],
                ),
                "reference": r["client_reference_id"] or "",
                "objective": r["objective"] or "",
                "result": r["result_status"] or "",
                "updated": short_when(r["updated_at"], tz),
            }
            for r in rows
        ]
    )
    outside.dataframe(
        table,
        hide_index=True,
        column_config={
            # Sized to show a counterparty with its company and an objective whole at 1280 px
            # (attempts and the creation time are on each case's timeline and in Export).
            "open": st.column_config.LinkColumn("case", display_text="open ↗", width=55),
            "status": st.column_config.TextColumn(width=115),
            "counterparty": st.column_config.TextColumn(width=205),
            "reference": st.column_config.TextColumn(width=100),
            "objective": st.column_config.TextColumn(width=240),
            "result": st.column_config.TextColumn(width=100),
            "updated": st.column_config.TextColumn(width=95),
        },
        key="cases_table",
    )
    st.caption(f"Times in your zone ({tz}). Open a case for its whole story.")

unknown = unknown_submissions(db)
if unknown:
    st.warning(
        f"{len(unknown)} submissions have an unknown outcome: Offload may or may not "
        "have created them. They settle themselves when a webhook names them."
    )
    outside.dataframe(
        pd.DataFrame(
            [
                {
                    "submission": u["submission_id"],
                    "by": u["created_by"],
                    "sent": when(u["created_at"], tz),
                    "error": f"{u['error_code']}: {u['error_message']}",
                }
                for u in unknown
            ]
        ),
        hide_index=True,
    )

# The charts cover the last 60 days. They are drawn when asked for: the chart library is the
# heaviest part of this page to load in the browser.
if st.toggle(
    "Charts: cases per day by outcome, time to completion (last 60 days)", key="cases_charts"
):
    per_day_rows, hours_rows = charts(db, database_path(db), astuple(flt))
    left, right = st.columns(2)
    with left:
        st.caption("Cases created per day, by outcome")
        per_day = pd.DataFrame(per_day_rows)
        if per_day.empty:
            st.caption("No cases in the last 60 days.")
        else:
            st.bar_chart(
                per_day.pivot_table(index="day", columns="outcome", values="cases", fill_value=0)
            )
    with right:
        st.caption("Completed cases by hours from creation to completion")
        hours = pd.DataFrame(hours_rows)
        if hours.empty:
            st.caption("No completed cases in the last 60 days.")
        else:
            hours["hours"] = hours["hours"].map(lambda h: f"{h}-{h + 1} h" if h < 10 else "10 h +")
            st.bar_chart(hours.set_index("hours"))
