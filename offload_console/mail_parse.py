"""Reading one message from the answer mailbox, as untrusted input: its sender, its answer
tokens, whether it is automatic mail, the receiving server's DKIM/DMARC verdict, and the
reply's new text (quoted history, "On … wrote:", Outlook's header block and signatures cut by
``mail-parser-reply``; an HTML-only reply turned into text). Limits: its size, its parts, its
charset; a message past one comes back with ``problem`` set. No database, no network."""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import dataclass
from email.utils import getaddresses
from html.parser import HTMLParser

from offload_client.text import one_line
from offload_console.assignment import is_one_address

MAX_MESSAGE_BYTES = 10_000_000  # a reply with a photo attached fits; a bigger one is refused
MAX_PARTS = 100  # a MIME bomb (thousands of nested parts) is refused, not walked
MAX_DEPTH = 8
TOKEN_LINE = "Answer token"
_TOKEN = re.compile(r"^[a-z2-7]{26}$")
_TOKEN_IN_TEXT = re.compile(TOKEN_LINE + r":\s*([A-Za-z2-7]{26})\b")


class Refused(Exception):
    """The message cannot be read as a reply (``reason``: a word for ``mail_replies``)."""

    def __init__(self, reason: str, words: str):
        super().__init__(words)
        self.reason, self.words = reason, words


@dataclass(frozen=True)
class Reply:
    key: str  # its Message-ID, else the hash of its bytes
    message_id: str | None
    sender: str | None  # the From address, lower-cased (None: not exactly one)
    tokens: tuple[str, ...]  # found in its recipients first, then in its text
    text: str  # the reply's new text ("" if none)
    automatic: str | None  # why it is automatic mail (an auto-reply, a bounce), else None
    auth_verdict: str | None  # "pass", "fail", or None (no verdict)
    problem: Refused | None = None  # unreadable: why


def message_key(raw: bytes, message_id: str | None) -> str:
    if message_id and 3 <= len(message_id) <= 500:
        return "mid:" + message_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def read_reply(
    raw: bytes, answer_address: str, size: int | None = None, authserv_id: str | None = None
) -> Reply:
    """Everything :func:`handle` needs from one raw message (``size``: its whole size, when
    only its header was fetched); an unreadable one comes back with ``problem`` set (and
    whatever could be read of its headers). ``authserv_id``: the receiving server whose
    ``Authentication-Results`` count (None: the topmost one)."""
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        message_id = _header(msg, "Message-ID")
    except Exception:  # noqa: BLE001 - any parser failure is a malformed message
        return Reply(
            message_key(raw, None),
            None,
            None,
            (),
            "",
            None,
            None,
            Refused("malformed", "the message could not be read"),
        )
    key = message_key(raw, message_id)
    sender = _sender(msg)
    automatic = _automatic(msg, sender)
    verdict = auth_verdict(_results_of(msg, authserv_id))
    tokens = _tokens_in_recipients(msg, answer_address)
    problem, text, whole = None, "", ""
    if max(len(raw), size or 0) > MAX_MESSAGE_BYTES:
        problem = Refused("too_big", f"the message is over {MAX_MESSAGE_BYTES // 1_000_000} MB")
    else:
        try:
            shown, whole = _body_text(msg)
            text = new_text(shown)
        except Refused as exc:
            problem = exc
    tokens = tuple(dict.fromkeys([*tokens, *(t.lower() for t in _TOKEN_IN_TEXT.findall(whole))]))
    return Reply(key, message_id, sender, tokens, text, automatic, verdict, problem)


def _header(msg, name: str) -> str | None:
    """A header's first value as text (None when absent or unreadable)."""
    try:
        value = msg.get(name)
    except Exception:  # noqa: BLE001 - a header the parser cannot decode is no header
        return None
    return None if value is None else str(value).strip()


def _sender(msg) -> str | None:
    froms = msg.get_all("From", []) if hasattr(msg, "get_all") else []
    try:
        addresses = [addr for _, addr in getaddresses([str(v) for v in froms]) if addr]
    except Exception:  # noqa: BLE001
        return None
    if len(addresses) != 1 or not is_one_address(addresses[0]):
        return None
    return addresses[0].lower()


_AUTOMATIC_SENDERS = re.compile(r"^(mailer-daemon|postmaster|no-?reply)@", re.IGNORECASE)


def _automatic(msg, sender: str | None) -> str | None:
    """Why the message is automatic mail (no answer, no confirmation: no loop), else None."""
    auto = (_header(msg, "Auto-Submitted") or "no").split(";")[0].strip().lower()
    if auto != "no":
        return f"Auto-Submitted: {one_line(auto, 40)}"
    precedence = (_header(msg, "Precedence") or "").lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress-Loop"):
        if _header(msg, name):
            return name
    if (_header(msg, "Return-Path") or "").replace(" ", "") == "<>":
        return "a bounce (empty Return-Path)"
    if msg.get_content_type() == "multipart/report":
        return "a delivery report"
    if sender and _AUTOMATIC_SENDERS.match(sender):
        return f"sent by {sender.split('@')[0]}"
    return None


def _results_of(msg, authserv_id: str | None) -> str | None:
    """The ``Authentication-Results`` to believe: the one whose authserv-id (before its first
    ``;``) is ``authserv_id``, else, with none named, the topmost (added last, by the server
    that received the message; a sender can write one lower down, not above)."""
    try:
        values = [str(v) for v in msg.get_all("Authentication-Results", [])]
    except Exception:  # noqa: BLE001
        return None
    if authserv_id is None:
        return values[0] if values else None
    wanted = authserv_id.strip().lower()
    for value in values:
        words = value.split(";", 1)[0].split()
        if words and words[0].lower() == wanted:
            return value
    return None


def auth_verdict(header: str | None) -> str | None:
    """The receiving server's verdict from its ``Authentication-Results`` (the topmost one,
    which it added): ``fail`` when DMARC fails, or DKIM fails with no DKIM pass; ``pass`` when
    DMARC or DKIM passes; None when it says neither."""
    if not header:
        return None
    results = {
        method: set(re.findall(rf"\b{method}\s*=\s*([a-z]+)", header, re.IGNORECASE))
        for method in ("dmarc", "dkim")
    }
    dmarc = {v.lower() for v in results["dmarc"]}
    dkim = {v.lower() for v in results["dkim"]}
    if "fail" in dmarc:
        return "fail"
    if "pass" in dmarc:
        return "pass"
    if "pass" in dkim:
        return "pass"
    if "fail" in dkim:
        return "fail"
    return None


def _tokens_in_recipients(msg, answer_address: str) -> tuple[str, ...]:
    local, _, domain = answer_address.lower().rpartition("@")
    values = []
    for name in ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To"):
        try:
            values += [str(v) for v in msg.get_all(name, [])]
        except Exception:  # noqa: BLE001
            continue
    found = []
    for _, addr in getaddresses(values):
        user, _, host = addr.lower().rpartition("@")
        base, plus, token = user.partition("+")
        if host == domain and base == local and plus and _TOKEN.match(token):
            if token not in found:
                found.append(token)
    return tuple(found)


def _body_text(msg) -> tuple[str, str]:
    """The reply's text: its first text/plain part that is not an attachment, else its first
    text/html part as text; and all of both, quoted history included (where a client that
    dropped the reply address's + part left the token). Limits: :data:`MAX_PARTS` parts,
    :data:`MAX_DEPTH` levels."""
    plain, html = None, None
    count = 0

    def walk(part, depth: int) -> None:
        nonlocal plain, html, count
        count += 1
        if count > MAX_PARTS or depth > MAX_DEPTH:
            raise Refused("malformed", "the message has too many parts")
        if part.is_multipart():
            for sub in part.iter_parts() if hasattr(part, "iter_parts") else part.get_payload():
                walk(sub, depth + 1)
            return
        if part.get_content_disposition() == "attachment":
            return
        kind = part.get_content_type()
        if kind == "text/plain" and plain is None:
            plain = _decoded(part)
        elif kind == "text/html" and html is None:
            html = _decoded(part)

    walk(msg, 0)
    everything = f"{plain or ''}\n{html or ''}"
    if plain is not None:
        return plain, everything
    if html is not None:
        return html_to_text(html), everything
    return "", everything


def _decoded(part) -> str:
    """A text part in its declared charset (none declared: UTF-8), strictly: bytes that are
    not that charset refuse the message rather than send replacement marks to Offload."""
    payload = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset)
    except (LookupError, UnicodeDecodeError) as exc:
        raise Refused(
            "undecodable", f"its text is not readable as {one_line(charset, 40)}"
        ) from exc


class _Text(HTMLParser):
    """HTML to plain text: block elements end lines, quoted history (``<blockquote>``,
    Gmail's ``gmail_quote``, Outlook's ``divRplyFwdMsg`` and what follows) is left out."""

    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table"}
    SKIP = {"script", "style", "head", "title", "blockquote"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0
        self.stack: list[str] = []
        self.ended = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        ident = attributes.get("id") or ""
        if "gmail_quote" in classes or ident in ("divRplyFwdMsg", "appendonsend"):
            self.ended = True  # the history starts here
        if tag in ("br", "hr", "img", "meta", "link", "input"):  # void elements
            if tag in ("br", "hr"):
                self.out.append("\n")
            return
        self.stack.append(tag)
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag not in self.stack:
            return
        while self.stack:
            top = self.stack.pop()
            if top in self.SKIP:
                self.skipping -= 1
            if top == tag:
                break
        if tag in self.BLOCKS:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.skipping and not self.ended:
            self.out.append(re.sub(r"[ \t\r\n]+", " ", data))


def html_to_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.out).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def new_text(body: str) -> str:
    """What the reply adds: the first fragment ``mail-parser-reply`` finds (quoted history,
    "On … wrote:", Outlook's header block and signatures cut), without quoted lines."""
    from mailparser_reply.constants import MAIL_LANGUAGES
    from mailparser_reply.parser import EmailMessage as Parsed

    body = _CONTROL.sub("", body.replace("\r\n", "\n").replace("\r", "\n"))
    languages = [code for code in MAIL_LANGUAGES if len(code) == 2]
    replies = Parsed(text=body, languages=languages, keep_hyphen_lists=True).read().replies
    if not replies or replies[0].headers:  # the message starts with its quoted history
        return ""
    lines = [line for line in replies[0].body.splitlines() if not line.lstrip().startswith(">")]
    return "\n".join(lines).strip()
