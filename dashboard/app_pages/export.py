"""Export: the filtered cases as CSV, one column per result field, safe in a spreadsheet; or
the questions asked in a period with their answers."""

import datetime as dt
import itertools

import pandas as pd
import streamlit as st

from dashboard import outside
from dashboard.auth import operator, refused
from dashboard.format import literal, plural
from dashboard.session import get_db
from offload_console import settings
from offload_console.csv_export import (
    MAX_UNDECLARED_COLUMNS,
    OTHER_RESULT_KEY,
    date_range_ms,
    drop_spool_file,
    header,
    question_cells,
    record_export,
    record_questions_export,
    result_keys,
    row_cells,
    spool_file,
    write_csv,
    write_questions_csv,
)
from storage.case_filter import CaseFilter
from storage.export_rows import (
    CASE_COLUMNS,
    QUESTION_COLUMNS,
    count_cases,
    count_questions,
    iter_cases,
    iter_questions,
    result_statuses,
)
from storage.page_queries import STATUSES

db = get_db()
ss = st.session_state
st.title("Export")
st.caption(
    "CSV (RFC 4180, UTF-8), times in ISO 8601 UTC. Cells that a spreadsheet could run as "
    "a formula start with a ' so they show as text. The CLI writes the same bytes: "
    "`offload-console export` (`--questions` for questions and answers)."
)

what = st.segmented_control(
    "What to export",
    ["Cases", "Questions and answers"],
    default="Cases",
    key="ex_what",
    help="Questions: every question asked in the period, with its case, due time, and who "
    "answered it, how (dashboard, bulk, e-mail) and how long it took.",
)


def bounds(value) -> tuple[int | None, int | None]:
    if isinstance(value, tuple | list) and value:
        return date_range_ms(value[0], value[1] if len(value) > 1 else value[0])
    if isinstance(value, dt.date):
        return date_range_ms(value, value)
    return None, None


def prepare_and_offer(write, record, stem: str, disabled: bool) -> None:
    """The Prepare button (``write(file, progress)`` writes the CSV to a temporary file,
    ``record(rows)`` audits it) and the Download button of the file prepared."""
    if operator() is None:
        st.warning(
            "Enter your name in the sidebar first: every export is recorded with who made it."
        )
    if st.button(
        "Prepare CSV", type="primary", disabled=disabled or operator() is None, key="ex_prepare"
    ):
        if words := refused("export"):
            st.error(literal(words))
            return
        bar = st.progress(0.0, text="Writing…")
        if "ex_file" in ss:  # one prepared file per session: drop the previous one
            drop_spool_file(ss.pop("ex_file")[0])
        spool = spool_file()
        with spool:
            rows = write(
                spool,
                lambda done, all_: bar.progress(
                    min(1.0, done / max(all_, 1)), text=f"{done:,} of {all_:,} rows"
                ),
            )
        ss["ex_file"] = (spool.name, rows, stem)
        record(rows)
    if "ex_file" in ss and ss["ex_file"][2] == stem:
        path, rows, _ = ss["ex_file"]
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        with open(path, "rb") as handle:
            st.download_button(
                f"Download {plural(rows, 'row')}",
                handle,
                file_name=f"offload-{stem}-{stamp}.csv",
                mime="text/csv",
                key="ex_download",
                icon=":material/download:",
                on_click=downloaded,
            )


def downloaded() -> None:
    """The browser has the file: the copy on this machine goes."""
    drop_spool_file(ss.pop("ex_file", (None,))[0])


def questions_export() -> None:
    asked = st.date_input("Asked between", value=(), key="ex_asked", format="YYYY-MM-DD")
    since, until = bounds(asked)
    total = count_questions(db, since, until)
    st.metric("Rows", f"{total:,}")
    within = settings.answer_within_ms()
    preview = list(
        itertools.islice(
            iter_questions(db, answer_within_ms=within, since_ms=since, until_ms=until), 20
        )
    )
    if preview:
        st.caption("Preview: the first 20 rows as they will be written.")
        with st.container(key="ex_preview"):
            outside.dataframe(
                pd.DataFrame([question_cells(r) for r in preview], columns=QUESTION_COLUMNS),
                hide_index=True,
            )
    else:
        st.info("No questions were asked in this period.")
    prepare_and_offer(
        lambda out, progress: write_questions_csv(
            db, out, answer_within_ms=within, since_ms=since, until_ms=until, progress=progress
        ),
        lambda rows: record_questions_export(db, operator(), rows, "dashboard", since, until),
        "questions",
        disabled=total == 0,
    )


if what == "Questions and answers":
    questions_export()
    st.stop()

c1, c2, c3 = st.columns(3)
statuses = c1.multiselect("Status", STATUSES, key="ex_status")
created = c2.date_input("Created between", value=(), key="ex_created", format="YYYY-MM-DD")
completed = c3.date_input("Completed between", value=(), key="ex_completed", format="YYYY-MM-DD")
c4, c5, c6 = st.columns(3)
chosen_results = c4.multiselect("Result status", result_statuses(db), key="ex_result_status")
objective = c5.text_input("Objective contains", key="ex_objective")
reference = c6.text_input("Client reference contains", key="ex_reference")


flt = CaseFilter(
    statuses=list(statuses),
    result_statuses=list(chosen_results),
    objective=objective,
    client_reference=reference,
)
flt.created_since_ms, flt.created_until_ms = bounds(created)
flt.completed_since_ms, flt.completed_until_ms = bounds(completed)

columns = st.multiselect("Case columns", CASE_COLUMNS, default=list(CASE_COLUMNS), key="ex_columns")
include_results = st.toggle("One column per result field", value=True, key="ex_results")

total = count_cases(db, flt)
st.metric("Rows", f"{total:,}")

preview_rows = list(itertools.islice(iter_cases(db, flt), 20))
if preview_rows:
    keys = result_keys(iter(preview_rows)) if include_results else []
    if keys and keys[-1] == OTHER_RESULT_KEY:
        st.caption(
            f"Results hold many fields no result schema names: the first {MAX_UNDECLARED_COLUMNS}"
            f" get a column each, the rest go together as JSON in result.{OTHER_RESULT_KEY}."
        )
    st.caption(
        "Preview: the first 20 rows as they will be written (result columns of these "
        "rows; the file has the union over every exported case)."
    )
    to_cells = row_cells(columns, keys)
    with st.container(key="ex_preview"):
        outside.dataframe(
            pd.DataFrame([to_cells(r) for r in preview_rows], columns=header(columns, keys)),
            hide_index=True,
        )
else:
    st.info("No cases match these filters.")

prepare_and_offer(
    lambda out, progress: write_csv(
        db, flt, out, columns=list(columns), include_results=include_results, progress=progress
    ),
    lambda rows: record_export(db, operator(), flt, rows, via="dashboard"),
    "cases",
    disabled=total == 0 or not columns,
)
