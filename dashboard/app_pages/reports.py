"""Reports: how fast questions get answered, by whom, and what the cases came to, for a period
(in the URL: ``?from=2026-11-30&to=2026-12-06&by=day``). Every table can be downloaded as CSV
(formula-safe cells, like the Export page)."""

import csv
import datetime as dt
import io

import pandas as pd
import streamlit as st

from dashboard import outside
from dashboard.format import literal
from dashboard.reports_view import (
    BUCKETS,
    answer_figures,
    bounds_ms,
    bucket_starts,
    grouped_figures,
    period_from_query,
)
from dashboard.session import get_db
from offload_console import settings
from offload_console.csv_export import cell
from storage import now_ms
from storage.reports import (
    answer_times,
    case_buckets,
    finished_cases,
    overdue_now,
    question_buckets,
)

db = get_db()
ss = st.session_state
st.title("Reports")

today = dt.datetime.now(dt.UTC).date()
start, end, by = period_from_query(dict(st.query_params), today)
url_key = (start, end, by)
if ss.get("rep_url") != url_key:  # a link, a reload, back or forward: the widgets follow it
    ss["rep_period"], ss["rep_by"], ss["rep_url"] = (start, end), by, url_key


def period_changed() -> None:
    chosen = ss["rep_period"]
    if isinstance(chosen, tuple | list) and len(chosen) == 2:
        first, last = chosen
    elif isinstance(chosen, tuple | list) and chosen:
        first = last = chosen[0]
    else:
        return  # half a range picked: wait for its end
    query = {"from": first.isoformat(), "to": last.isoformat(), "by": ss["rep_by"]}
    st.query_params.from_dict(query)
    ss["rep_url"] = (first, last, ss["rep_by"])


c1, c2 = st.columns([3, 2])
c1.date_input("Period (UTC days)", key="rep_period", format="YYYY-MM-DD", on_change=period_changed)
c2.segmented_control("Per", list(BUCKETS), key="rep_by", on_change=period_changed)
since, until = bounds_ms(start, end)
bucket_ms = BUCKETS[by]
within = settings.answer_within_ms()
now = now_ms()


def download(frame: pd.DataFrame, name: str) -> None:
    """The table as CSV: the same formula-safe cells as the Export page."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([cell(str(c)) for c in frame.columns])
    for row in frame.itertuples(index=False):
        writer.writerow([cell(v) if not isinstance(v, float) or v == v else "" for v in row])
    st.download_button(
        "CSV",
        out.getvalue().encode("utf-8"),
        file_name=f"offload-{name}-{start.isoformat()}-{end.isoformat()}.csv",
        mime="text/csv",
        key=f"rep_csv_{name}",
        icon=":material/download:",
        type="tertiary",
    )


def labelled(counts: dict[str, dict[int, int]]) -> pd.DataFrame:
    """Bucket counts as rows, one per bucket of the period (empty ones too)."""
    starts = bucket_starts(start, end, by)
    rows = [
        {by: day.isoformat(), **{name: values.get(i, 0) for name, values in counts.items()}}
        for i, day in enumerate(starts)
    ]
    return pd.DataFrame(rows)


questions = question_buckets(db, since, until, bucket_ms)
times = list(answer_times(db, since, until, answer_within_ms=within))
overall = answer_figures(times)

m = st.columns(6)
m[0].metric("Questions asked", int(sum(questions["asked"].values())))
m[1].metric("Answered", int(sum(questions["answered"].values())))
m[2].metric("Still waiting", int(sum(questions["waiting"].values())))
m[3].metric("Overdue now", int(overdue_now(db, since, until, now=now, answer_within_ms=within)))
in_time = f"{overall['in_time_pct']:g} %" if overall["count"] else "–"
median = f"{overall['median_min']:g} min" if overall["count"] else "–"
m[4].metric("Answered in time", literal(in_time))
m[5].metric("Median time to answer", literal(median))
st.caption(
    literal(
        f"{start.isoformat()} to {end.isoformat()} (UTC). Asked and still waiting count the "
        "questions asked in the period; answered, the answers given in it, whenever asked. Due "
        f"time: the case's own answer window, else {within // 60_000} min."
    )
)

st.subheader("Questions")
per_bucket = labelled(questions)
left, right = st.columns([3, 2])
with left:
    st.bar_chart(per_bucket.set_index(by), stack=False, height=260)
with right:
    outside.dataframe(per_bucket, hide_index=True, key="rep_questions")
    download(per_bucket, "questions")

st.subheader("Time to answer")
if overall["count"]:
    columns = ["count", "median_min", "p90_min", "longest_min", "in_time_pct"]
    overall_frame = pd.DataFrame([{"who": "everyone", **overall}])[["who", *columns]]
    by_operator = pd.DataFrame(grouped_figures(times, "answered_by", "(unknown)"))
    by_objective = pd.DataFrame(grouped_figures(times, "objective", "(no objective)"))
    left, right = st.columns([2, 3])
    with left:
        st.caption("Median minutes to answer, per operator")
        st.bar_chart(by_operator.set_index("answered_by")["median_min"], height=240)
    with right:
        outside.dataframe(overall_frame, hide_index=True, key="rep_overall")
        outside.dataframe(by_operator, hide_index=True, key="rep_operators")
        download(by_operator, "answer-times-by-operator")
    st.caption("Per objective")
    outside.dataframe(by_objective, hide_index=True, key="rep_objectives")
    download(by_objective, "answer-times-by-objective")
else:
    st.info("No question was answered in this period.")

st.subheader("Cases")
launched = labelled({"launched": case_buckets(db, since, until, bucket_ms)})
finished = pd.DataFrame(
    finished_cases(db, since, until), columns=["status", "result_status", "cases"]
)
left, right = st.columns([3, 2])
with left:
    st.bar_chart(launched.set_index(by), height=220)
    outside.dataframe(launched, hide_index=True, key="rep_launched")
    download(launched, "cases-launched")
with right:
    st.caption("Finished in the period, by result status")
    if len(finished):
        st.bar_chart(
            finished,
            x="result_status",
            y="cases",
            color="status",
            horizontal=True,
            height=110 + 40 * finished["result_status"].nunique(),
        )
    outside.dataframe(finished, hide_index=True, key="rep_finished")
    download(finished, "cases-finished")
