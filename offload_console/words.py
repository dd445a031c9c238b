"""The console's own words for amounts of time, the same on the pages and in notifications,
and its link to a question."""

from __future__ import annotations

from urllib.parse import quote


def duration(ms: int, *, zero: str = "just now") -> str:
    """``3 d 4 h``, ``5 h 12 min``, ``7 min``; ``zero`` under a minute."""
    seconds = max(0, ms // 1000)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return zero


def question_link(dashboard_url: str, request_id: str) -> str:
    """The console's link to a question: the Inbox with that question open (answered or not).
    The id is percent-encoded, so no character of it can end the link or start a line."""
    return f"{dashboard_url.rstrip('/')}/?request={quote(request_id, safe='')}"
