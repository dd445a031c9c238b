"""The dashboard's database handle: one connection per browser session."""

import streamlit as st

import storage


def get_db():
    """Each session opens its own connection (a cached one would be shared across sessions'
    threads); WAL lets them all read while the sidecar writes."""
    if "_db" not in st.session_state:
        st.session_state["_db"] = storage.open_db(check_same_thread=False)
    return st.session_state["_db"]
