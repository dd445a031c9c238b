"""Answering a question by replying to its e-mail.

Outgoing: an e-mail about one question (new, due soon, overdue, assigned) that goes to an
operator's registered address carries a reply token (:func:`invite`): in its Reply-To
(``answers+<token>@example.com``, from ``OFFLOAD_CONSOLE_ANSWER_ADDRESS``) and in its footer,
for clients that drop the plus part. The token names the question and the operator; the
database keeps only its hash.

Incoming (:func:`handle`, one raw message read from the answer mailbox): the message is read
(``offload_console.mail_parse``: limits on size, parts, charset), automatic mail (auto-replies, bounces) answers nothing,
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
import hashlib
import secrets
from dataclasses import dataclass

from offload_client import OffloadClient
from offload_client.text import one_line
from offload_console.answers import ANSWER_MAX_CHARS, send_answer
from offload_console.assignment import is_one_address
from offload_console.mail_parse import TOKEN_LINE, Reply, message_key, read_reply
from offload_console.words import question_link
from storage import audit
from storage import mail_replies as store
from storage.database import Database
from storage.db import now_ms
from storage.inbox import Via
from storage.operators import operator_emails

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
    found = _token_row(db, reply)  # read once: the decision, the refusal, the audit entry
    if before is not None and before["input_request_id"] and found is not None:
        # Checked and sent once already (its outcome not written: the reader stopped): send
        # again under the same claim, which tells how the first send ended and sends nothing.
        decided = found
    else:
        decided = _decide(db, reply, found, allowed, require_auth)
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
            mail = _refusal(db, reply, found, decided, allowed, dashboard_url)
        store.finish(db, reply.key, outcome=decided.outcome, reason=decided.reason, reply=mail)
        _audit_refusal(db, reply, found, decided)
        return decided
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
    link = question_link(dashboard_url, found["input_request_id"])
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
        mail = store.MailBack(found["address"], f"Answer sent: {reference}", body)
    else:
        done = Handled("refused", outcome.kind, outcome.message)
        mail = store.MailBack(
            found["address"], f"Not answered: {reference}", _refusal_body(done, link)
        )
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


def _decide(
    db, reply: Reply, found: dict | None, allowed: set[str], require_auth: bool
) -> Handled | dict:
    """A refusal (or ignoring) in words, or the token's row (``found``) when the reply may
    answer."""
    if reply.automatic:
        return Handled("ignored", "automatic", f"automatic mail ({reply.automatic})")
    if reply.problem:
        return Handled("refused", reply.problem.reason, f"{reply.problem.words}")
    if reply.sender is None:
        return Handled("refused", "no_sender", "the message does not name one sender")
    if found is None:
        return Handled(
            "refused",
            "no_token",
            "it is not a reply to an e-mail about a question (no answer token in it)",
        )
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


def _token_row(db, reply: Reply) -> dict | None:
    """The row of the first of the reply's tokens the console made (None: none)."""
    for token in reply.tokens:
        found = store.token(db, token_hash(token))
        if found is not None:
            return found
    return None


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


def _refusal(
    db, reply: Reply, found: dict | None, done: Handled, allowed, dashboard_url
) -> store.MailBack | None:
    """The refusal mail, to the sender only when the sender is a registered operator (no mail
    to a stranger, a forged sender or a mailing list)."""
    if reply.sender is None or operator_for(db, reply.sender, allowed) is None:
        return None
    link = question_link(dashboard_url, found["input_request_id"]) if found else None
    reference = one_line((found["client_reference_id"] or "") if found else "", 80)
    subject = f"Not answered: {reference}" if reference else "Not answered"
    return store.MailBack(reply.sender, subject, _refusal_body(done, link))


def _audit_refusal(db, reply: Reply, found: dict | None, done: Handled) -> None:
    audit.record(
        db,
        found["operator"] if found else "answer-mail",
        "answer.email_refused" if done.outcome == "refused" else "answer.email_ignored",
        case_id=found["case_id"] if found else None,
        target=found["input_request_id"] if found else None,
        detail={
            "reason": done.reason,
            "sender": reply.sender,
            "messageId": reply.message_id,
            "via": "e-mail",
        },
    )
