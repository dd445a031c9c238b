"""Offload's JSON made storable, once, where it comes in (the client's responses and the
sidecar's webhooks): a lone UTF-16 surrogate (``"\\ud800"`` escaped in JSON) decodes to a code
point that UTF-8, SQLite and Streamlit's protocol all refuse. Each one becomes U+FFFD."""

from __future__ import annotations

import re
from typing import Any

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"
# JSON text can only carry a surrogate as a \uD800-\uDFFF escape (UTF-8 cannot encode one).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def may_hold_surrogates(json_text: str) -> bool:
    """Whether decoding ``json_text`` can give a surrogate at all (a cheap test first)."""
    return _SURROGATE_ESCAPE.search(json_text) is not None


def storable(value: Any) -> tuple[Any, bool]:
    """``value`` (decoded JSON) with every lone surrogate in its strings and keys replaced by
    U+FFFD, and whether anything was replaced. (``json.loads`` joins valid pairs into one code
    point, so any surrogate left is a lone one.)"""
    if isinstance(value, str):
        clean = _LONE_SURROGATE.sub(REPLACEMENT, value)
        return clean, clean != value
    if isinstance(value, dict):
        changed = False
        out = {}
        for key, item in value.items():
            clean_key, key_changed = storable(key)
            clean_item, item_changed = storable(item)
            out[clean_key] = clean_item
            changed = changed or key_changed or item_changed
        return (out, True) if changed else (value, False)
    if isinstance(value, list):
        cleaned = [storable(item) for item in value]
        if any(changed for _, changed in cleaned):
            return [item for item, _ in cleaned], True
        return value, False
    return value, False


# Unicode's bidirectional controls (embeddings, overrides, isolates, marks): in outside text
# they can reorder what a reader sees ("LUN…LTR"), so they are shown, never obeyed.
BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)


def bidi_visible(text: str) -> str:
    """``text`` with each bidi control written out (``\\u202e``) where it was."""
    if not any(ch in BIDI_CONTROLS for ch in text):
        return text
    return "".join(ascii(ch)[1:-1] if ch in BIDI_CONTROLS else ch for ch in text)


def printable(text: str, keep: frozenset[str] = frozenset()) -> str:
    """``text`` with every unprintable character but ``keep`` escaped (``\\n``, ``\\x1b``):
    outside text printed on an operator's terminal, or in a message, cannot break a line or
    send a terminal escape."""
    return "".join(ch if ch.isprintable() or ch in keep else ascii(ch)[1:-1] for ch in text)


_TERMINAL_KEEPS = frozenset("\t\n\r\ufeff")  # line structure, and a BOM (shown as nothing)


def terminal_safe(text: str) -> str:
    """Text for a terminal that keeps its lines: every other unprintable character (escape
    sequences, BEL, C1 controls, bidi overrides) is escaped as ``\\x1b``, ``\\u202e``."""
    return printable(text, _TERMINAL_KEEPS)


class TerminalWriter:
    """A binary stream for a terminal: UTF-8 written to it is passed through
    :func:`terminal_safe` (a file keeps the exact bytes; a terminal never runs them)."""

    def __init__(self, raw):
        import codecs

        self.raw = raw
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def write(self, data: bytes) -> int:
        self.raw.write(terminal_safe(self._decoder.decode(bytes(data))).encode("utf-8"))
        return len(data)

    def flush(self) -> None:
        self.raw.flush()

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return False


def one_line(text: str, limit: int = 300) -> str:
    """Outside text as one short line: every run of whitespace (newlines, U+2028 …) is one
    space, other unprintable characters are escaped, and it is cut at ``limit`` with "…"."""
    flat = printable(" ".join(str(text).split()))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
