"""Per-session handles: the database connection, the Offload client, the operator."""

from __future__ import annotations

import secrets

import streamlit as st

from offload_console import settings


def get_db():
    """Each browser session opens its own connection (a cached one would be shared across
    sessions' threads); WAL lets them all read while the sidecar writes."""
    if "_db" not in st.session_state:
        st.session_state["_db"] = settings.open_db(any_thread=True)
    return st.session_state["_db"]


def get_client():
    if "_client" not in st.session_state:
        st.session_state["_client"] = settings.offload_client()
    return st.session_state["_client"]


def session_token() -> str:
    """This browser session's own id: a claim on a question belongs to it (not to a name), so
    one operator in two tabs cannot send two answers."""
    return st.session_state.setdefault("_session_token", secrets.token_hex(16))


def operator_tz() -> str:
    """The operator's time zone, as the browser reports it (UTC if unknown)."""
    try:
        return st.context.timezone or "UTC"
    except Exception:  # noqa: BLE001 - older clients send none
        return "UTC"
