"""What a page shows while the database does not answer (a restart, a failover, a stalled
writer): a banner, never Streamlit's error page; the operator's typed work kept (it lives in
session state, and the run stops early, so nothing is cleared); and the page back on its own
as soon as the database answers, with no reload."""

from __future__ import annotations

import streamlit as st

from dashboard.format import literal
from dashboard.session import get_db
from offload_console.redact import redact
from storage import StorageError

RETRY_EVERY_S = 3


def database_trouble(exc: StorageError) -> None:
    """Say the database is not answering, try again every few seconds, and stop this run."""
    st.warning(
        literal(
            f"The database is not answering ({redact(str(exc))[:300]}). Nothing is lost: what "
            "you typed is kept here, and webhooks wait in the sidecar's spool until the "
            f"database takes them. This page tries again every {RETRY_EVERY_S} s by itself."
        ),
        icon=":material/cloud_off:",
    )
    back_when_answering()
    st.stop()


@st.fragment(run_every=f"{RETRY_EVERY_S}s")
def back_when_answering() -> None:
    try:
        get_db().execute("SELECT 1").fetchone()
    except StorageError:
        return
    st.rerun(scope="app")


def paused(exc: StorageError) -> None:
    """Inside a live-updating fragment: this tick skipped, the page as it was, a line saying
    why; the next tick tries again."""
    st.caption(
        literal(f"Live updates paused: the database is not answering ({redact(str(exc))[:200]}).")
    )
