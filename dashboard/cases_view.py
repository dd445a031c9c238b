"""The Cases page's filters as URL parameters and back (no Streamlit): a link opens the same
view, and the browser's back button returns to the previous one."""

from __future__ import annotations

import datetime as dt

from storage.page_queries import STATUSES


def query_from_filters(
    statuses: list[str], dates: tuple, text: str, attention: bool
) -> dict[str, str | list[str]]:
    """``?status=FAILED&status=RUNNING&from=2026-11-01&to=2026-11-30&q=w-9&attention=1``;
    filters left at their defaults are left out."""
    params: dict[str, str | list[str]] = {}
    if statuses:
        params["status"] = list(statuses)
    if dates:
        params["from"] = dates[0].isoformat()
        params["to"] = (dates[1] if len(dates) > 1 else dates[0]).isoformat()
    if text.strip():
        params["q"] = text.strip()
    if attention:
        params["attention"] = "1"
    return params


FIRST_DAY, LAST_DAY = dt.date(1970, 1, 1), dt.date(8999, 12, 31)


def filters_from_query(params: dict[str, list[str]]) -> dict:
    """The widgets' values for URL parameters (each a list, as ``st.query_params.get_all``
    gives them); anything that does not parse is left at its default."""

    def first(name: str) -> str:
        values = params.get(name) or []
        return values[-1] if values else ""

    dates: tuple = ()
    try:
        if first("from"):
            start = dt.date.fromisoformat(first("from"))
            end = dt.date.fromisoformat(first("to")) if first("to") else start
            dates = (start, end) if start <= end else (end, start)
    except ValueError:
        dates = ()
    if dates and not (FIRST_DAY <= dates[0] and dates[1] <= LAST_DAY):
        dates = ()  # a day no time column holds (9999-12-31 would overflow the day after)
    return {
        "cases_status": [s for s in params.get("status") or [] if s in STATUSES],
        "cases_dates": dates,
        "cases_search": first("q"),
        "cases_attention": first("attention") == "1",
    }
