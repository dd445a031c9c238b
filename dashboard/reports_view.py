"""The Reports page's logic, apart from Streamlit: the period from the URL, the buckets, and
the figures of answer times (median, 90th percentile, longest, share inside the due time)."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Iterable

DAY_MS = 86_400_000
BUCKETS = {"day": DAY_MS, "week": 7 * DAY_MS}


def period_from_query(query: dict, today: dt.date) -> tuple[dt.date, dt.date, str]:
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD&by=day|week``; missing or unreadable parts: this week
    so far (Monday to today), by day. ``to`` before ``from`` is swapped."""

    def day(name: str) -> dt.date | None:
        try:
            return dt.date.fromisoformat(str(query.get(name, ""))[:10])
        except ValueError:
            return None

    start = day("from") or today - dt.timedelta(days=today.weekday())
    end = day("to") or max(today, start)
    if end < start:
        start, end = end, start
    by = query.get("by") if query.get("by") in BUCKETS else "day"
    return start, end, by


def bounds_ms(start: dt.date, end: dt.date) -> tuple[int, int]:
    """UTC milliseconds of ``start``'s midnight and of the midnight after ``end``."""
    first = dt.datetime.combine(start, dt.time(), dt.UTC)
    last = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC)
    return int(first.timestamp() * 1000), int(last.timestamp() * 1000)


def bucket_starts(start: dt.date, end: dt.date, by: str) -> list[dt.date]:
    """The first day of each bucket from ``start`` (a week: seven days from ``start``)."""
    step = dt.timedelta(days=7 if by == "week" else 1)
    days, current = [], start
    while current <= end:
        days.append(current)
        current += step
    return days


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least ``share`` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def answer_figures(rows: Iterable[dict]) -> dict:
    """``count``, ``median_min``, ``p90_min``, ``longest_min`` (minutes, one decimal) and
    ``in_time_pct`` over answer-time rows (``seconds``, ``in_time``)."""
    rows = list(rows)
    if not rows:
        return {"count": 0}
    minutes = [row["seconds"] / 60 for row in rows]
    return {
        "count": len(rows),
        "median_min": round(statistics.median(minutes), 1),
        "p90_min": round(percentile(minutes, 0.9), 1),
        "longest_min": round(max(minutes), 1),
        "in_time_pct": round(100 * sum(row["in_time"] for row in rows) / len(rows), 1),
    }


def grouped_figures(rows: list[dict], key: str, missing: str) -> list[dict]:
    """:func:`answer_figures` per value of ``key`` (most answers first), the value named
    ``missing`` when empty."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row[key] or missing, []).append(row)
    table = [{key: name, **answer_figures(group)} for name, group in groups.items()]
    return sorted(table, key=lambda r: (-r["count"], r[key]))
