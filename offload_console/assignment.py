"""Assigning a waiting question to an operator, and telling that operator by e-mail.

Any operator may still answer any question (the claim rule stands); an assignment says whose
it is. Assigning to an operator with an e-mail queues one ``question.assigned`` notification
to that address only, through the first ``mailto://`` target configured
(``OFFLOAD_CONSOLE_NOTIFY_URLS``); the sidecar sends it.
"""

from __future__ import annotations

import re

from offload_console import settings
from offload_console.accounts import allowed_emails
from offload_console.notify import targets_from_urls
from storage import now_ms
from storage.database import Database
from storage.inbox import answerers, assign_request
from storage.notifications import drop_other_assignment_mail, queue_assigned
from storage.operators import list_operators, operator_emails

# One plain address: no display name, no comma-separated list, no CR/LF (a header injection).
EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def is_one_address(text: str | None) -> bool:
    """``text`` is exactly one e-mail address (254 characters at most)."""
    return bool(text) and len(text) <= 254 and EMAIL.fullmatch(text) is not None


# Names the console itself acts under (the demo seeder, a command run with no operator, a
# page with no name typed): never people to assign a question to.
NOT_PEOPLE = {"cli", "demo", "(not signed in)", "reconciler", "sidecar", "console"}


def same_person(a: str | None, b: str | None) -> bool:
    """One identity per person: names compare without case (and around spaces)."""
    return bool(a and b) and a.strip().casefold() == b.strip().casefold()


def assignable(db: Database, secrets: dict | None = None) -> list[str]:
    """Whom a question may be assigned to: people, each once (names compared without case,
    the first spelling kept): where sign-in names the people (local accounts, the OIDC
    allow-list), those only; else (unprotected) the operators who have answered questions.
    A name typed in unprotected mode before accounts came is no one who can sign in. Never
    the console's own names (``cli``, ``demo``, …)."""
    names = [row["name"] for row in list_operators(db)]
    names += sorted(allowed_emails(secrets))
    if not names:
        names = answerers(db)
    people: dict[str, str] = {}
    for name in names:
        key = (name or "").strip().casefold()
        if key and key not in NOT_PEOPLE:
            people.setdefault(key, name.strip())
    return list(people.values())


def canonical(db: Database, name: str, secrets: dict | None = None) -> str:
    """The spelling of ``name`` the console already knows for that person (``Avery`` typed
    for the account ``avery`` is ``avery``); a new name as typed."""
    return next((known for known in assignable(db, secrets) if same_person(known, name)), name)


def email_of(db: Database, name: str) -> str | None:
    """An operator's e-mail: the one their account gives, or the name itself if it is one
    (OIDC operators are known by their e-mail)."""
    address = operator_emails(db).get(name)
    if is_one_address(address):
        return address
    return name if is_one_address(name) else None


def assign(db: Database, request_id: str, assignee: str | None, by: str) -> tuple[bool, str]:
    """Assign (or with None, unassign) a waiting question; ``(changed, what happened)`` in
    the console's words."""
    if assignee is not None:
        assignee = canonical(db, assignee.strip())
    before = assign_request(db, request_id, assignee, by)
    if before is None:
        return False, "Not changed: the question is no longer waiting."
    if before["assigned_to"] == assignee:
        return False, "Nothing to change."
    address = email_of(db, assignee) if assignee else None
    drop_other_assignment_mail(db, request_id, address, now=now_ms())
    if assignee is None:
        return True, "Unassigned."
    if mail_assignee(db, request_id, before["case_id"], assignee):
        return True, f"Assigned to {assignee}; an e-mail to them is on its way."
    return True, f"Assigned to {assignee}."


def mail_assignee(db: Database, request_id: str, case_id: str, assignee: str) -> bool:
    """Queue the ``question.assigned`` e-mail to ``assignee``'s address through the first
    ``mailto://`` target; False when they have no address or there is no such target."""
    address = email_of(db, assignee)
    mail = next((t for t in targets_from_urls(settings.notify_urls()) if t.sends_mail), None)
    if not (address and mail):
        return False
    queue_assigned(
        db,
        input_request_id=request_id,
        case_id=case_id,
        recipient=address,
        target_id=mail.target_id,
        now=now_ms(),
    )
    return True
