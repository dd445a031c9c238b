"""The dashboard as served: Streamlit's ``st.App`` around ``app.py``, with one guard and the
sign-in cookie's two routes.

Streamlit answers ``/_stcore/metrics`` (sessions, cache sizes) to anyone, before any sign-in,
and 1.67 has no setting to turn it off; the console has no use for it, so this middleware
answers 404 there. ``offload-console dashboard`` (and so ``up``) runs this file; ``streamlit
run dashboard/app.py`` still works (without the guard). Starting, it deletes the Export page's
prepared files that a stopped dashboard left behind.

A local-account sign-in outlives its tab in a cookie that page scripts cannot read (HttpOnly,
SameSite=Strict, ``OFFLOAD_CONSOLE_SESSION_HOURS``): after a password is accepted the page
POSTs a one-time ticket to ``/auth/session``, whose answer sets the cookie;
``/auth/signout`` ends the session and clears it. Run without this file (``streamlit run
dashboard/app.py``), a sign-in lasts as long as its tab."""

import asyncio
from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from offload_console import instance, settings
from offload_console.accounts import SESSION_COOKIE
from offload_console.csv_export import sweep_spool_files
from storage import now_ms, sign_in

HIDDEN_PATHS = ("/_stcore/metrics",)


class HidePaths:
    """ASGI middleware: 404 for the paths in :data:`HIDDEN_PATHS` (under any base path)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.rstrip("/").endswith(HIDDEN_PATHS):
            await PlainTextResponse("Not found", status_code=404)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _no_store(text: str, status: int = 200) -> PlainTextResponse:
    return PlainTextResponse(text, status_code=status, headers={"cache-control": "no-store"})


def _with_db(work):
    """``work(db)`` on a connection of its own (called in a worker thread)."""
    db = settings.open_db()
    try:
        return work(db)
    finally:
        db.conn.close()


async def exchange_ticket(request: Request) -> PlainTextResponse:
    """POST a ticket (the body, as text): the session cookie, or 403 for a ticket that is
    unknown, used, expired or of an ended session."""
    ticket = (await request.body())[:200].decode("utf-8", "replace").strip()
    exchanged = await asyncio.to_thread(
        _with_db, lambda db: sign_in.exchange(db, ticket, now=now_ms())
    )
    if exchanged is None:
        return _no_store("this sign-in ticket is unknown, used or expired", 403)
    token, expires_at = exchanged
    response = _no_store("signed in")
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max(1, (expires_at - now_ms()) // 1000),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def sign_out(request: Request) -> PlainTextResponse:
    """POST: the session this browser's cookie holds ends, and the cookie goes."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await asyncio.to_thread(
            _with_db, lambda db: sign_in.end(db, now=now_ms(), why="signed out", token=token)
        )
    response = _no_store("signed out")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _port() -> int | None:
    try:
        return int(st.get_option("server.port"))
    except (TypeError, ValueError, RuntimeError):
        return None


sweep_spool_files()
# This dashboard in the database's list of instances (the Health page), while it runs.
PRESENCE = instance.Presence(settings.open_db, "dashboard", _port()).start()
app = st.App(
    str(Path(__file__).with_name("app.py")),
    middleware=[Middleware(HidePaths)],
    routes=[
        Route("/auth/session", exchange_ticket, methods=["POST"]),
        Route("/auth/signout", sign_out, methods=["POST"]),
    ],
)
