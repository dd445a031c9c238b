"""Sign-in: OIDC with an allow-list, else local accounts, else (loopback only) a name.

``gate()`` runs before any page: a session that has not signed in sees the sign-in form and
nothing else (the script stops there)."""

from __future__ import annotations

import json
from urllib.parse import quote, unquote

import streamlit as st

from dashboard import outside
from dashboard.format import literal, plural
from dashboard.session import get_db
from offload_console.accounts import (
    SESSION_COOKIE,
    allowed_emails,
    is_allowed,
    oidc_role,
    password_fingerprint,
    refusal,
    resume_session,
    sign_in_setup,
    start_session,
    try_sign_in,
)
from offload_console.csv_export import drop_spool_file
from offload_console.settings import is_loopback, session_lifetime_ms
from storage import StorageError, audit, now_ms, sign_in
from storage.operators import role_of

ss = st.session_state


def _secrets() -> dict:
    try:
        return st.secrets.to_dict()
    except Exception:  # noqa: BLE001 - no secrets.toml at all
        return {}


def _oidc_user() -> dict:
    """The signed-in OIDC user's claims ({} when signed out)."""
    try:
        return st.user.to_dict() if st.user.is_logged_in else {}
    except Exception:  # noqa: BLE001 - auth not configured
        return {}


def operator() -> str | None:
    """Who is acting in this session."""
    if ss.get("auth_mode") in ("oidc", "local"):
        return ss.get("auth_operator")
    name = (ss.get("operator_name") or "").strip()
    return name or None


def role() -> str | None:
    """This session's role, read afresh (a change an admin makes counts at the next click):
    a local account's, an OIDC user's from their claims (``[console.roles]``), and, without
    sign-in (loopback only), every right, as before roles existed."""
    mode = ss.get("auth_mode")
    if mode == "local":
        name = ss.get("auth_operator")
        return role_of(get_db(), name) if name else None
    if mode == "oidc":
        return oidc_role(_oidc_user(), _secrets())
    return "admin"


def role_line() -> str:
    """The sidebar's word on this session's role."""
    current = role()
    return f"Role: {current}" + (" (reads only)" if current == "viewer" else "")


def refused(action: str) -> str | None:
    """Checked where an action happens (its callback): None when this session's role may do
    ``action``; else the refusal in words (audited)."""
    return refusal(get_db(), operator(), role(), action)


def still_signed_in() -> bool:
    """Checked where an action happens (button callbacks run before :func:`gate`): the local
    account this session signed in with still exists with the same password; an OIDC user is
    still on the allow-list. Sessions without sign-in always pass."""
    mode = ss.get("auth_mode")
    if mode == "local":
        name = ss.get("auth_operator")
        return (
            bool(name)
            and password_fingerprint(get_db(), name) == ss.get("auth_fingerprint")
            and sign_in.is_live(get_db(), ss.get("auth_session", ""), now=now_ms())
        )
    if mode == "oidc":
        return is_allowed(ss.get("auth_operator"), allowed_emails(_secrets()))
    return True


def sign_in_mode() -> str:
    """``oidc``, ``local`` or ``unprotected``: what this run's sign-in is (kept in the
    session for :func:`operator`)."""
    setup = sign_in_setup(get_db(), _secrets())
    mode = "oidc" if setup.oidc else "local" if setup.local_accounts else "unprotected"
    ss["auth_mode"] = mode
    return mode


def may_see_pages(mode: str) -> bool:
    """Whether this session is signed in (or needs no sign-in): the navigation shows."""
    if mode == "local":
        _resume_from_cookie(get_db())
        return bool(ss.get("auth_operator"))
    if mode == "oidc":
        return bool(_oidc_user())
    return True


def gate(mode: str) -> None:
    """``mode``: this run's :func:`sign_in_mode`."""
    if mode == "oidc":
        _oidc_gate(_secrets())
    elif mode == "local":
        _local_gate(get_db())
    else:
        _unprotected_gate()


def _stop_with_title() -> None:
    st.title("Offload console")


def _oidc_gate(secrets: dict) -> None:
    claims = _oidc_user()
    if not claims:
        _stop_with_title()
        st.write("Sign in with your organisation's account to continue.")
        st.button("Sign in", type="primary", on_click=st.login, key="auth_login")
        st.stop()
    email = claims.get("email")
    if not is_allowed(email, allowed_emails(secrets)):
        _stop_with_title()
        st.error(
            "This account is not on the console's list of operators. Ask an "
            "administrator to add it to OFFLOAD_CONSOLE_ALLOWED_EMAILS."
        )
        outside.text(str(email or "(the provider sent no e-mail)"))
        st.button("Sign out", on_click=_oidc_sign_out, key="auth_logout")
        st.stop()
    ss["auth_operator"] = email
    with st.sidebar:
        st.caption("Signed in as")
        outside.text(email)
        st.caption(literal(role_line()))
        st.button("Sign out", on_click=_oidc_sign_out, key="auth_logout")


def _drop_session_files() -> None:
    drop_spool_file(ss.pop("ex_file", (None,))[0])


def _sign_out() -> None:
    audit.record(get_db(), ss.get("auth_operator"), "operator.signed_out")
    session_id = ss.pop("auth_session", None)
    if session_id:  # every tab of this browser ends at its next run
        sign_in.end(get_db(), now=now_ms(), why="signed out", session_id=session_id)
    ss.pop("auth_operator", None)
    ss["auth_forget_cookie"] = True
    _drop_session_files()


def _oidc_sign_out() -> None:
    _drop_session_files()
    st.logout()


def client_address() -> str:
    """The browser's address as the server saw it (``local`` for this machine)."""
    try:
        ip = st.context.ip_address
    except Exception:  # noqa: BLE001 - no browser (AppTest)
        return "local"
    return ip if isinstance(ip, str) and ip else "local"


ENDED = {
    "account changed": "Your account was removed or its password changed: sign in again.",
    "ended": "Your sign-in ended (signed out, or it expired): sign in again.",
}


def _end_tab_sign_in(why: str) -> None:
    """``why``: a key of :data:`ENDED`."""
    for key in ("auth_operator", "auth_fingerprint", "auth_session", "auth_ticket"):
        ss.pop(key, None)
    ss["auth_ended"] = why


def _resume_from_cookie(db) -> None:
    """A reload, a new tab, a notification link: the sign-in the browser's cookie (set at
    sign-in) names, taken up before the page's navigation is drawn (else it stays hidden
    until the first click)."""
    if not ss.get("auth_operator") and not ss.get("auth_forget_cookie"):
        session = resume_session(db, _context_cookies().get(SESSION_COOKIE))
        if session is not None:
            ss["auth_operator"] = session.operator
            ss["auth_fingerprint"] = session.fingerprint
            ss["auth_session"] = session.session_id
            ss.pop("auth_ended", None)


def _local_gate(db) -> None:
    signed_in = ss.get("auth_operator")
    # An account removed, or its password changed, ends every session signed in with it; so
    # does a sign-out in another tab, and time.
    if signed_in and password_fingerprint(db, signed_in) != ss.get("auth_fingerprint"):
        audit.record(db, signed_in, "operator.session_ended", detail={"why": "account changed"})
        sign_in.end(db, now=now_ms(), why="account changed", session_id=ss.get("auth_session"))
        _end_tab_sign_in("account changed")
    elif signed_in and not sign_in.is_live(db, ss.get("auth_session", ""), now=now_ms()):
        _end_tab_sign_in("ended")
    _resume_from_cookie(db)
    if not ss.get("auth_operator"):
        _stop_with_title()
        if ss.pop("auth_forget_cookie", False):
            st.html(
                _POST_SCRIPT.format(path="/auth/signout", body='""'), unsafe_allow_javascript=True
            )
        ended = ss.pop("auth_ended", None)
        if ended in ENDED:
            st.warning(ENDED[ended])
        with st.form("sign_in"):
            name = st.text_input("Name", key="auth_name")
            password = st.text_input(
                "Password",
                type="password",
                key="auth_password",
                autocomplete="current-password",  # a password manager may fill it
            )
            submitted = st.form_submit_button("Sign in", type="primary")
        if submitted:
            name = name.strip()[:100]
            client = client_address()
            try:
                signed_in, wait = try_sign_in(db, name, password, client, now_ms())
                if signed_in:
                    session, ticket = start_session(db, name, session_lifetime_ms())
            except StorageError:
                st.error("The console's database is busy: sign in again in a moment.")
                st.stop()
            if wait:
                st.error(f"Too many wrong passwords: try again in {plural(wait, 'second')}.")
                st.stop()
            if signed_in:
                ss["auth_operator"] = name
                ss["auth_fingerprint"] = session.fingerprint
                ss["auth_session"] = session.session_id
                ss["auth_ticket"] = ticket
                st.rerun()
            st.error("Wrong name or password.")
        st.stop()
    ticket = ss.get("auth_ticket")
    if ticket:  # until the browser has its cookie (drawn again should a rerun unmount it)
        if sign_in.ticket_waiting(db, ss["auth_session"], now=now_ms()):
            st.html(
                _POST_SCRIPT.format(path="/auth/session", body=json.dumps(ticket)),
                unsafe_allow_javascript=True,
            )
        else:
            ss.pop("auth_ticket", None)
    with st.sidebar:
        st.caption("Signed in as")
        outside.text(ss["auth_operator"])
        st.caption(literal(role_line()))
        st.button("Sign out", on_click=_sign_out, key="auth_logout")


# The page hands its browser the sign-in cookie (or has it cleared) through a route of the
# dashboard's own (dashboard/server.py): the cookie's token is never in the page.
_POST_SCRIPT = (
    "<script>fetch({path!r}, {{method: 'POST', body: {body}, credentials: 'same-origin',"
    " headers: {{'content-type': 'text/plain'}}}});</script>"
)


NAME_COOKIE = "offload_console_operator"


def remembered_name(cookies) -> str | None:
    """The operator name this browser remembered (a cookie set when it was typed)."""
    raw = (cookies or {}).get(NAME_COOKIE)
    name = unquote(raw).strip() if raw else ""
    return name[:100] or None


def name_cookie_script(name: str | None) -> str:
    """A script that makes this browser remember ``name`` for a year (or forget it). The
    value is percent-encoded, so nothing typed can leave the string."""
    value = json.dumps(quote(name or "", safe=""))
    age = 365 * 24 * 3600 if name else 0
    return (
        f"<script>document.cookie = {NAME_COOKIE!r} + '=' + {value} + "
        f"'; path=/; max-age={age}; SameSite=Strict';</script>"
    )


def _context_cookies() -> dict:
    try:
        return dict(st.context.cookies)
    except Exception:  # noqa: BLE001 - no browser (AppTest)
        return {}


def _unprotected_gate() -> None:
    # The address the server really binds (unset binds every interface) and the address this
    # browser connected from: both must be this machine.
    address = st.get_option("server.address")
    client = client_address()
    if not is_loopback(address) or not (client == "local" or is_loopback(client)):
        _stop_with_title()
        st.error(
            "This console is reachable beyond this machine but has no sign-in. Add "
            "operators with `offload-console operators add NAME`, or configure OIDC "
            "([auth] in .streamlit/secrets.toml), then restart it."
        )
        st.stop()
    # The name survives reloads and new tabs: the browser keeps it in a cookie.
    cookie_name = remembered_name(_context_cookies())
    if "operator_name" not in ss and cookie_name:
        ss["operator_name"] = cookie_name
    with st.sidebar:
        st.text_input(
            "Your name",
            key="operator_name",
            help="Recorded with every answer and case you send. This browser remembers it.",
            placeholder="e.g. Avery",
        )
        name = operator()
        if name or cookie_name:  # drawn on every run: a rerun may unmount it before it ran
            st.html(name_cookie_script(name), unsafe_allow_javascript=True)
        st.caption(
            "Unprotected: no sign-in is configured, so anyone who can open this page "
            "can act. It listens on 127.0.0.1 only."
        )
