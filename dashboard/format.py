"""Formatting for the pages: times in a chosen zone, durations, attempts. No Streamlit here."""

from __future__ import annotations

import datetime as dt
import json
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from offload_client import NOTHING_SCHEDULED
from offload_client.text import bidi_visible
from offload_console.words import duration
from storage.page_queries import STATUSES


def zone(name: str | None) -> dt.tzinfo:
    if not name:
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


INVALID_TIME = "invalid time"
# Times from outside are stored as sent; a time no calendar here can show (before 1970 or
# after 9000: year 0, 10^16 ms) is shown as INVALID_TIME instead of breaking the page.
EARLIEST_MS = 0
LATEST_MS = 221_845_392_000_000  # 9000-01-01


def moment(ms: int | None, tz_name: str | None) -> dt.datetime | None:
    """``ms`` (Unix ms) as a time in the zone; None for a time outside 1970 … 9000."""
    if not isinstance(ms, int | float) or not EARLIEST_MS <= ms < LATEST_MS:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).astimezone(zone(tz_name))


def when(ms: int | None, tz_name: str | None, *, seconds: bool = False) -> str:
    """``2026-11-28 10:04 PST`` in the given zone; empty for no time. ``seconds=True`` gives
    ``10:04:37``: the timeline needs them to follow a fast case."""
    if ms is None:
        return ""
    shown = moment(ms, tz_name)
    if shown is None:
        return INVALID_TIME
    return shown.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


def short_when(ms: int | None, tz_name: str | None, now_ms: int | None = None) -> str:
    """``11-28 10:04`` this year, ``2025-11-28`` before: for narrow table columns."""
    if ms is None:
        return ""
    shown = moment(ms, tz_name)
    if shown is None:
        return INVALID_TIME
    now = (
        dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC) if now_ms else dt.datetime.now(dt.UTC)
    ).astimezone(shown.tzinfo)
    return shown.strftime("%m-%d %H:%M" if shown.year == now.year else "%Y-%m-%d")


# Our own words for values that come from outside or from the database: only these reach
# labels and metrics (which render markdown).
STATUS_WORDS = {s: s.replace("_", " ").lower() for s in STATUSES}
REQUEST_STATUS_WORDS = {
    "PENDING": "pending",
    "ANSWERED": "answered",
    "SUPERSEDED": "superseded",
    "CLOSED": "closed",
}
SOURCE_WORDS = {"webhook": "webhook", "poll": "poll", "console": "console"}


def grouped_counts(counts: dict[str, int]) -> dict[str, int]:
    """Cases per status under our own labels: the documented statuses by name, every other
    status (an open string from outside) summed as ``Other`` (shown only when non-zero)."""
    shown = {s.replace("_", " ").title(): counts.get(s, 0) for s in STATUSES}
    other = sum(n for s, n in counts.items() if s not in STATUSES)
    if other:
        shown["Other"] = other
    return shown


def local_now(tz_name: str | None, now: dt.datetime | None = None) -> str:
    """The counterparty's wall clock right now, e.g. ``Sat 02:04 (Asia/Tokyo)``."""
    if not tz_name:
        return "time zone unknown"
    tz = zone(tz_name)
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(tz)
    label = tz_name if tz is not dt.UTC or tz_name.upper() == "UTC" else f"{tz_name}?"
    return f"{moment.strftime('%a %H:%M')} ({label})"


_MARKDOWN_SPECIAL = frozenset("\\`*_{}[]()#+-.!|~<>$&")


def literal(text: object) -> str:
    """Outside text made safe for a call that renders markdown (a toast): one line, every
    markdown character backslash-escaped, and a zero-width space after each colon so that
    Streamlit's ``:emoji:`` and ``:color[...]`` forms cannot match, and after each ``@`` and
    before the dot of ``www.`` so that no address or host is made a link. It shows as typed."""
    out = []
    for ch in bidi_visible(" ".join(str(text).split())):
        if ch in _MARKDOWN_SPECIAL:
            out.append("\\" + ch)
        elif ch in ":@":  # "@": an e-mail address is autolinked
            out.append(ch + "\u200b")
        else:
            out.append(ch)
    # "www.example.com" is autolinked too: a zero-width space before its first dot
    return _WWW.sub("\\1\u200b\\2", "".join(out))


_WWW = re.compile(r"(www)(\\?\.)", re.IGNORECASE)


def due_words(due_at: int | None, now: int) -> tuple[str, bool]:
    """``("due in 1 h 20 min", False)`` or ``("overdue by 35 min", True)``: words, so the
    colour beside them is never the only sign."""
    if due_at is None:
        return "no due time", False
    if due_at <= now:
        late = duration(now - due_at, zero="")
        return (f"overdue by {late}" if late else "overdue since just now"), True
    return f"due in {duration(due_at - now, zero='under a minute')}", False


def gap(ms: int | None) -> str:
    """The time between two events, to the second: ``+4 s``, ``+2 min 05 s``, ``+3 h 10 min``."""
    if ms is None:
        return ""
    seconds = max(0, round(ms / 1000))
    if seconds < 60:
        return f"+{seconds} s"
    if seconds < 3600:
        return f"+{seconds // 60} min {seconds % 60:02d} s"
    return "+" + duration(seconds * 1000)


def plural(count: int, one: str, many: str | None = None) -> str:
    """``1 row``, ``2 rows``, ``1,204 rows``."""
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def next_action(ms: int | None, tz_name: str | None) -> str:
    if ms is None or ms >= NOTHING_SCHEDULED:
        return "none scheduled"
    return when(ms, tz_name)


def attempts(used: int | None, max_follow_ups: int | None) -> str:
    """Offload's maxAttempts counts follow-ups after the first outreach."""
    used = used or 0
    if max_follow_ups is None:
        return f"{used} sent"
    total = max_follow_ups + 1
    return f"{used} of {total} sent, {max(0, total - used)} left"


def counterparty_line(name: str | None, address: str | None, company: str | None) -> str:
    """``Maya Chen <ap@northstar.example> (Northstar LLC)``; empty parts left out."""
    return " ".join(
        filter(
            None, [name, f"<{address}>" if address else None, f"({company})" if company else None]
        )
    )


def case_line(row: dict) -> str:
    """Which case a question belongs to, in one line: reference · counterparty · objective."""
    counterparty = counterparty_line(
        row.get("counterparty_name"), row.get("counterparty_address"), None
    )
    return " · ".join(
        [
            row.get("client_reference_id") or "(no reference)",
            counterparty or "(no counterparty)",
            row.get("objective") or "(no objective)",
        ]
    )


def json_list(text: str | None) -> list:
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def pretty_json(text: str | None) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return text or ""


def event_summary(event: dict) -> str:
    """One line saying what an event was, from its payload."""
    try:
        data = json.loads(event["payload"]).get("data") or {}
    except (ValueError, AttributeError):
        data = {}
    kind = event["event_type"]
    if kind == "case.created":
        return "Case sent to Offload"
    if kind == "console.answered":
        how = " by e-mail" if data.get("answeredVia") == "e-mail" else ""
        return f"Answered{how}: {str(data.get('providedContext', ''))[:200]}"
    if kind == "case.input_needed" or (
        kind == "case.polled" and data.get("status") == "INPUT_NEEDED"
    ):
        question = data.get("inputRequest")
        if isinstance(question, dict):
            question = question.get("question")
        return f"Question: {str(question or '')[:200]}"
    status = data.get("status", "")
    extra = data.get("resultStatus") or ""
    return f"{status} {extra}".strip()


def shortened(text: str, limit: int = 60) -> str:
    """``text`` on one line, cut at ``limit`` characters with an ellipsis."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
