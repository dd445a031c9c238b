"""The dashboard as served: Streamlit's ``st.App`` around ``app.py``, with one guard.

Streamlit answers ``/_stcore/metrics`` (sessions, cache sizes) to anyone, before any sign-in,
and 1.67 has no setting to turn it off; the console has no use for it, so this middleware
answers 404 there. ``offload-console dashboard`` (and so ``up``) runs this file; ``streamlit
run dashboard/app.py`` still works (without the guard). Starting, it deletes the Export page's
prepared files that a stopped dashboard left behind."""

from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse

from offload_console.csv_export import sweep_spool_files

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


sweep_spool_files()
app = st.App(str(Path(__file__).with_name("app.py")), middleware=[Middleware(HidePaths)])
