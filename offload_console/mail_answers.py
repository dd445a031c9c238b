"""Answering a question by replying to its e-mail.

Outgoing: an e-mail about one question (new, due soon, overdue, assigned) that goes to an
operator's registered address carries a reply token (:func:`invite`): in its Reply-To
(``answers+<token>@example.com``, from ``OFFLOAD_CONSOLE_ANSWER_ADDRESS``) and in its footer,
for clients that drop the plus part. The token names the question and the operator; the
database keeps only its hash.

Incoming (:func:`handle`, one raw message read from the answer mailbox): the message is parsed
with limits (size, parts, charset), automatic mail (auto-replies, bounces) answers nothing,
the token must be one the console made for a pending question, the sender the address it was
made for (and still that operator's), the receiving server's DKIM/DMARC verdict not a fail.
The reply's new text (quoted history, "On … wrote:" and signatures cut by
``mail-parser-reply``; an HTML-only reply turned into text) goes through the dashboard's own
path (:func:`offload_console.answers.send_answer`: the claim, one POST, the record and the
audit entry, ``via`` e-mail). The sender is told what happened by a mail kept in
``mail_replies`` and sent by the reader.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import re
import secrets
from dataclasses import dataclass
from email.utils import getaddresses
from html.parser import HTMLParser

from offload_client import OffloadClient
from offload_client.text import one_line
from offload_console.answers import ANSWER_MAX_CHARS, send_answer
from offload_console.assignment import is_one_address
from offload_console.words import question_link
from storage import audit
from storage import mail_replies as store
from storage.database import Database
from storage.db import now_ms
from storage.inbox import Via
from storage.operators import operator_emails

MAX_MESSAGE_BYTES = 10_000_000  # a reply with a photo attached fits; a bigger one is refused
MAX_PARTS = 100  # a MIME bomb (thousands of nested parts) is refused, not walked
MAX_DEPTH = 8
TOKEN_LINE = "Answer token"
_TOKEN = re.compile(r"^[a-z2-7]{26}$")
_TOKEN_IN_TEXT = re.compile(TOKEN_LINE + r":\s*([A-Za-z2-7]{26})\b")

# -- outgoing: the token ---------------------------------------------------------------------


def new_token() -> str:
    """26 letters and digits (128 random bits, base32): fits in an address's local part."""
    return base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.strip().lower().encode()).hexdigest()


def reply_address(answer_address: str, token: str) -> str:
    """``answers@example.com`` → ``answers+<token>@example.com``."""
    local, _, domain = answer_address.rpartition("@")
    return f"{local}+{token}@{domain}"


def operator_for(db: Database, address: str, allowed: set[str]) -> str | None:
    """The operator whose registered address ``address`` is: a local account's e-mail
    (``operators add --email``), or an OIDC operator (known by their e-mail) on the allow-list."""
    wanted = address.strip().lower()
    for name, registered in operator_emails(db).items():
        if registered.strip().lower() == wanted:
            return name
    return wanted if wanted in allowed else None


def registered_address(db: Database, operator: str, allowed: set[str]) -> str | None:
    """The address ``operator`` is registered with now (None: none)."""
    address = operator_emails(db).get(operator)
    if is_one_address(address):
        return address.strip().lower()
    return operator.lower() if operator.lower() in allowed and is_one_address(operator) else None


def invite(
    db: Database, answer_address: str, request_id: str, operator: str, address: str
) -> tuple[str, str]:
    """A new token for ``operator`` (at ``address``) to answer ``request_id`` by replying:
    ``(reply address, footer)``; the footer ends the e-mail's body."""
    token = new_token()
    store.add_token(db, token_hash(token), request_id, operator, address.lower(), now_ms())
    footer = (
        "Reply to this e-mail to answer: the new text of your reply goes to Offload as the "
        f"answer, once, if it comes from {address}. Keep the line below in your reply.\n"
        f"{TOKEN_LINE}: {token}"
    )
    return reply_address(answer_address, token), footer


def inviter(answer_address: str, allowed: frozenset[str]):
    """The notifier's ``invite`` (``offload_console.notify.Invite``): a reply address and
    footer for a recipient who is an operator, None for any other address."""

    def invite_for(db: Database, request_id: str, recipient: str) -> tuple[str, str] | None:
        operator = operator_for(db, recipient, set(allowed))
        if operator is None:
            return None
        return invite(db, answer_address, request_id, operator, recipient)

    return invite_for


# -- incoming: reading a message -------------------------------------------------------------


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


# -- incoming: what a reply does ----------------------------------------------------------------


@dataclass(frozen=True)
class Handled:
    outcome: str  # answered | refused | ignored | seen (read before: nothing done again)
    reason: str
    words: str  # the console's own words for it


def handle(
    db: Database,
    client: OffloadClient,
    raw: bytes,
    *,
    size: int | None = None,
    answer_address: str,
    dashboard_url: str,
    allowed: set[str] = frozenset(),
    require_auth: bool = False,
    authserv_id: str | None = None,
) -> Handled:
    """Act on one message read from the answer mailbox, once (see the module's text)."""
    reply = read_reply(raw, answer_address, size, authserv_id)
    before = store.message(db, reply.key)
    if before is not None and before["outcome"] is not None:
        return Handled("seen", before["reason"] or "", "read before: nothing done again")
    if before is not None and before["input_request_id"]:
        # Checked and sent once already (its outcome not written: the reader stopped): send
        # again under the same claim, which tells how the first send ended and sends nothing.
        decided = _token_row(db, reply)
    else:
        decided = _decide(db, reply, allowed, require_auth)
    if isinstance(decided, Handled):
        store.begin(
            db,
            reply.key,
            message_id=reply.message_id,
            sender=reply.sender,
            request_id=None,
            operator=None,
            answer=None,
        )
        mail = None
        if decided.outcome == "refused":
            mail = _refusal(db, reply, decided, allowed, dashboard_url)
        store.finish(db, reply.key, outcome=decided.outcome, reason=decided.reason, reply=mail)
        _audit_refusal(db, reply, decided)
        return decided
    found = decided
    store.begin(
        db,
        reply.key,
        message_id=reply.message_id,
        sender=reply.sender,
        request_id=found["input_request_id"],
        operator=found["operator"],
        answer=reply.text,
    )
    # The session is the message's: the same message read again (a crash before its outcome
    # was written) finds its own claim, and sends nothing twice.
    outcome = send_answer(
        db,
        client,
        found["input_request_id"],
        found["operator"],
        reply.text,
        session="mail-" + hashlib.sha256(reply.key.encode()).hexdigest()[:32],
        via=Via("e-mail", reply.message_id),
    )
    link = _link(dashboard_url, found["input_request_id"])
    reference = one_line(found["client_reference_id"] or found["case_id"] or "", 80)
    if outcome.ok:
        done = Handled("answered", outcome.kind, outcome.message)
        body = "\n".join(
            [
                f"Your answer to the question on case “{reference}” went to Offload. This is "
                "the text that was sent:",
                "",
                *(f"> {line}" for line in reply.text.splitlines()),
                "",
                "The question (quoted as received):",
                *(f"> {line}" for line in (found["question"] or "").splitlines()[:40]),
                "",
                f"The case in the console: {link}",
            ]
        )
        mail = (found["address"], f"Answer sent: {reference}", body)
    else:
        done = Handled("refused", outcome.kind, outcome.message)
        mail = (found["address"], f"Not answered: {reference}", _refusal_body(done, link))
    store.finish(db, reply.key, outcome=done.outcome, reason=done.reason, reply=mail)
    return done


def unhandled(db: Database, raw: bytes) -> Handled:
    """Record a message :func:`handle` failed on (a fault of the console's: logged), so it is
    moved out of the inbox and not tried forever."""
    done = Handled("refused", "error", "the console could not read it")
    key = message_key(raw, None)
    store.begin(db, key, message_id=None, sender=None, request_id=None, operator=None, answer=None)
    store.finish(db, key, outcome=done.outcome, reason=done.reason, reply=None)
    return done


def _decide(db, reply: Reply, allowed: set[str], require_auth: bool) -> Handled | dict:
    """A refusal (or ignoring) in words, or the token's row when the reply may answer."""
    if reply.automatic:
        return Handled("ignored", "automatic", f"automatic mail ({reply.automatic})")
    if reply.problem:
        return Handled("refused", reply.problem.reason, f"{reply.problem.words}")
    if reply.sender is None:
        return Handled("refused", "no_sender", "the message does not name one sender")
    found = _token_row(db, reply)
    if isinstance(found, Handled):
        return found
    if (
        reply.sender != found["address"]
        or registered_address(db, found["operator"], allowed) != found["address"]
    ):
        return Handled(
            "refused",
            "not_your_address",
            "it came from an address other than the one this question's e-mail was sent to; "
            "only that operator's registered address may answer by e-mail",
        )
    if reply.auth_verdict == "fail" or (require_auth and reply.auth_verdict != "pass"):
        return Handled(
            "refused",
            "not_authenticated",
            "the receiving mail server could not confirm it came from your address "
            f"(DKIM/DMARC: {reply.auth_verdict or 'no verdict'})",
        )
    if found["status"] != "PENDING" or found["answered_at"]:
        if found["answered_by"]:
            via = f" ({found['answered_via']})" if found["answered_via"] else ""
            why = f"the question was already answered by {found['answered_by']}{via}"
            return Handled("refused", "answered", why)
        return Handled(
            "refused",
            "expired",
            "the question is no longer waiting (the case moved on or was closed)",
        )
    if not reply.text:
        return Handled("refused", "empty", "the reply has no new text above the quoted e-mail")
    if len(reply.text) > ANSWER_MAX_CHARS:
        return Handled(
            "refused",
            "too_long",
            f"an answer is at most {ANSWER_MAX_CHARS:,} characters; this one has "
            f"{len(reply.text):,}",
        )
    return found


def _token_row(db, reply: Reply) -> dict | Handled:
    """The first of the reply's tokens the console made (a refusal when none is)."""
    for token in reply.tokens:
        found = store.token(db, token_hash(token))
        if found is not None:
            return found
    return Handled(
        "refused",
        "no_token",
        "it is not a reply to an e-mail about a question (no answer token in it)",
    )


NEXT_STEP = {
    "answered": "Nothing more to do.",
    "expired": "Nothing more to do.",
    "empty": "Reply again with your answer above the quoted e-mail, or answer in the console.",
    "too_long": "Shorten it and reply again, or answer in the console.",
    "not_your_address": "Reply from the e-mail sent to your own address, or answer in the console.",
    "not_authenticated": "Answer in the console; if your mail is signed, ask your mail "
    "administrator why it failed.",
}


def _refusal_body(done: Handled, link: str | None) -> str:
    lines = [
        f"Nothing was sent to Offload: {done.words}.",
        NEXT_STEP.get(done.reason, "Answer in the console."),
    ]
    if link:
        lines.append(f"The question in the console: {link}")
    return "\n\n".join(lines)


def _refusal(db, reply: Reply, done: Handled, allowed, dashboard_url) -> tuple | None:
    """The refusal mail, to the sender only when the sender is a registered operator (no mail
    to a stranger, a forged sender or a mailing list)."""
    if reply.sender is None or operator_for(db, reply.sender, allowed) is None:
        return None
    found = _token_row(db, reply)
    known = not isinstance(found, Handled)
    link = _link(dashboard_url, found["input_request_id"]) if known else None
    reference = one_line((found["client_reference_id"] or "") if known else "", 80)
    subject = f"Not answered: {reference}" if reference else "Not answered"
    return reply.sender, subject, _refusal_body(done, link)


def _audit_refusal(db, reply: Reply, done: Handled) -> None:
    found = _token_row(db, reply)
    known = not isinstance(found, Handled)
    audit.record(
        db,
        found["operator"] if known else "answer-mail",
        "answer.email_refused" if done.outcome == "refused" else "answer.email_ignored",
        case_id=found["case_id"] if known else None,
        target=found["input_request_id"] if known else None,
        detail={
            "reason": done.reason,
            "sender": reply.sender,
            "messageId": reply.message_id,
            "via": "e-mail",
        },
    )


def _link(dashboard_url: str, request_id: str) -> str:
    return question_link(dashboard_url, request_id)
