"""Who may act: local accounts (argon2id), the OIDC allow-list, and what sign-in is set up.

No Streamlit here: the dashboard's sign-in (``dashboard/auth.py``) and the CLI both use it.
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from offload_console.settings import allowed_emails_variable, read_secrets_file
from storage import audit, now_ms, sign_in
from storage.database import Database
from storage.operators import (
    ROLES,
    count_operators,
    get_password_hash,
    remove_operator,
    update_hash,
    upsert_operator,
)

_hasher = PasswordHasher()
MIN_PASSWORD = 10
# Verifying against this keeps a wrong name as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("offload-console-no-such-operator")


def add_operator(db: Database, name: str, password: str, by: str | None) -> bool:
    name = name.strip()
    if not name:
        raise ValueError("an operator needs a name")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    new = upsert_operator(db, name, _hasher.hash(password), by)
    audit.record(db, by, "operator.added" if new else "operator.password_changed", target=name)
    if not new:  # a changed password ends every sign-in made with the old one
        sign_in.end(db, now=now_ms(), why="account changed", operator=name)
    return new


def delete_operator(db: Database, name: str, by: str | None) -> bool:
    removed = remove_operator(db, name)
    if removed:
        audit.record(db, by, "operator.removed", target=name)
        sign_in.end(db, now=now_ms(), why="account changed", operator=name.strip())
    return removed


def check_password(db: Database, name: str, password: str) -> bool:
    stored = get_password_hash(db, name.strip())
    try:
        _hasher.verify(stored or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    if stored is None:
        return False
    if _hasher.check_needs_rehash(stored):
        update_hash(db, name.strip(), _hasher.hash(password))
    return True


def allowed_emails(secrets: dict | None = None) -> set[str]:
    """``OFFLOAD_CONSOLE_ALLOWED_EMAILS`` (comma-separated) and ``[console] allowed_emails``
    in secrets.toml, lower-cased."""
    emails = allowed_emails_variable()
    console = (secrets or {}).get("console") or {}
    for email in console.get("allowed_emails") or []:
        emails.add(str(email).strip().lower())
    return emails


def is_allowed(email: str | None, allowed: set[str]) -> bool:
    return bool(email) and email.strip().lower() in allowed


@dataclass(frozen=True)
class SignInSetup:
    oidc: bool
    local_accounts: int

    @property
    def protected(self) -> bool:
        return self.oidc or self.local_accounts > 0


def sign_in_setup(db: Database, secrets: dict | None = None) -> SignInSetup:
    secrets = read_secrets_file() if secrets is None else secrets
    return SignInSetup(oidc=bool(secrets.get("auth")), local_accounts=count_operators(db))


# -- roles ---------------------------------------------------------------------------------
# viewer: reads everything, acts on nothing; operator: today's rights (answer, assign, launch,
# export); admin: also manages operators and templates. Checked where each action happens.
ACTIONS = {
    "answer": "operator",
    "assign": "operator",
    "launch": "operator",
    "export": "operator",
    "duty": "operator",
    "templates": "admin",
    "operators": "admin",
}
WORDS = {
    "answer": "answer questions",
    "assign": "assign questions",
    "launch": "launch cases",
    "export": "export",
    "duty": "go on duty",
    "templates": "change templates",
    "operators": "manage operators",
}


def may(role: str | None, action: str) -> bool:
    """Whether ``role`` may do ``action`` (an unknown role may do nothing)."""
    if role not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(ACTIONS[action])


def oidc_role(claims: dict, secrets: dict | None) -> str:
    """An OIDC operator's role from their claims, by ``[console.roles]`` in secrets.toml:
    ``claim`` (default ``groups``) names the claim; ``admin``, ``operator`` and ``viewer`` list
    the values that give each role (the highest found wins); ``default`` (``operator``) is the
    role of an allowed user none of them names."""
    config = ((secrets or {}).get("console") or {}).get("roles") or {}
    found = claims.get(str(config.get("claim", "groups")))
    values = {found} if isinstance(found, str) else set(map(str, found or []))
    for role in reversed(ROLES):
        listed = config.get(role) or []
        if values & ({listed} if isinstance(listed, str) else set(map(str, listed))):
            return role
    default = config.get("default", "operator")
    return default if default in ROLES else "viewer"


def refusal(db: Database, operator: str | None, role: str | None, action: str) -> str | None:
    """None when ``role`` may do ``action``; else the refusal in words, written to the audit
    log (``role.refused``)."""
    if may(role, action):
        return None
    audit.record(
        db,
        operator or "(no name)",
        "role.refused",
        detail={"action": action, "role": role, "needs": ACTIONS[action]},
    )
    return (
        f"Your role ({role or 'none'}) may not {WORDS[action]}: that takes {ACTIONS[action]}. "
        "Nothing was done; an admin can change your role."
    )


# -- sign-in back-off --------------------------------------------------------------------
# After FREE_FAILURES wrong passwords for a name (since its last sign-in) or FREE_CLIENT
# from one client, within WINDOW_MS, each further try waits 2, 4, 8 … seconds (at most
# MAX_WAIT_S) after the last failure. Every refusal, and every try refused by the wait, is
# audited.
FREE_FAILURES = 5
FREE_CLIENT = 20
WINDOW_MS = 15 * 60 * 1000
MAX_WAIT_S = 300


def sign_in_wait_s(db: Database, name: str, client: str, now_ms: int) -> int:
    """Seconds before ``name`` may try again from ``client`` (0: now)."""
    from storage.audit import sign_in_failures

    waits = []
    for free, (count, last) in (
        (FREE_FAILURES, sign_in_failures(db, since_ms=now_ms - WINDOW_MS, name=name.strip())),
        (FREE_CLIENT, sign_in_failures(db, since_ms=now_ms - WINDOW_MS, client=client)),
    ):
        if count >= free and last is not None:
            wait_ms = min(MAX_WAIT_S, 2 ** (count - free + 1)) * 1000
            waits.append(max(0, last + wait_ms - now_ms))
    return -(-max(waits, default=0) // 1000)


def try_sign_in(
    db: Database, name: str, password: str, client: str, now_ms: int
) -> tuple[bool, int]:
    """One sign-in try: ``(signed in, seconds to wait)``. The back-off is read and the try
    counted as a failure in one transaction before the (slow) password check, so twenty
    wrong passwords sent at once are checked five times, not twenty; a right password then
    turns its entry into ``operator.signed_in``. Every try is audited."""
    name = name.strip()
    wait, entry = audit.begin_sign_in(
        db, name, client, lambda: sign_in_wait_s(db, name, client, now_ms)
    )
    if wait:
        return False, wait
    if not check_password(db, name, password):
        return False, 0
    audit.settle_sign_in(db, entry, name)
    return True, 0


def password_fingerprint(db: Database, name: str) -> str | None:
    """What a signed-in session remembers of its account: changes when the password does,
    None when the account is gone."""
    import hashlib

    stored = get_password_hash(db, name.strip())
    return hashlib.sha256(stored.encode()).hexdigest() if stored else None


# -- sign-ins that outlive a tab ----------------------------------------------------------


SESSION_COOKIE = "offload_console_session"  # HttpOnly; set by dashboard/server.py


@dataclass(frozen=True)
class Session:
    session_id: str
    operator: str
    fingerprint: str


def start_session(db: Database, name: str, lifetime_ms: int) -> tuple[Session, str]:
    """After a password was accepted: the session, and the one-time ticket the browser
    exchanges for its cookie (``dashboard/server.py``)."""
    fingerprint = password_fingerprint(db, name) or ""
    session_id, ticket = sign_in.begin(db, name, fingerprint, now=now_ms(), lifetime_ms=lifetime_ms)
    return Session(session_id, name, fingerprint), ticket


def resume_session(db: Database, token: str | None) -> Session | None:
    """The session a browser's cookie token holds, if it is live and its account unchanged
    (else None; a session whose account changed is ended here)."""
    row = sign_in.by_token(db, token or "", now=now_ms())
    if row is None:
        return None
    if password_fingerprint(db, row["operator"]) != row["fingerprint"]:
        sign_in.end(db, now=now_ms(), why="account changed", session_id=row["session_id"])
        return None
    return Session(row["session_id"], row["operator"], row["fingerprint"])
