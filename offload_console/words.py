"""The console's own words for amounts of time, the same on the pages and in notifications."""

from __future__ import annotations


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
