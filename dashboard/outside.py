"""Outside text drawn as text: ``outside.text`` and ``outside.dataframe`` are ``st.text`` and
``st.dataframe`` with every bidi control (U+202E and its kind) written out where it was, so
text from a counterparty or a webhook cannot reorder what an operator reads. The pages use
these, never ``st.text``/``st.dataframe`` directly (``tests/test_walls.py`` checks)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from offload_client.text import bidi_visible


def _visible(value: Any) -> Any:
    return bidi_visible(value) if isinstance(value, str) else value


def _texts(values) -> bool:
    return values.dtype == object or pd.api.types.is_string_dtype(values.dtype)


def visible_frame(data: Any) -> Any:
    """``data`` (a DataFrame, or rows a DataFrame is made from) with every string cell, column
    name and index label bidi-visible; anything else as it is."""
    if isinstance(data, (list, dict)):
        data = pd.DataFrame(data)
    if not isinstance(data, pd.DataFrame):
        return data
    frame = data.copy()
    for column in frame.columns:
        if _texts(frame[column]):
            frame[column] = frame[column].map(_visible)
    frame.columns = [_visible(c) for c in frame.columns]
    if _texts(frame.index):
        frame.index = frame.index.map(_visible)
    return frame


def text(body: Any, **kwargs):
    return st.text(bidi_visible(str(body)), **kwargs)


def dataframe(data: Any = None, **kwargs):
    return st.dataframe(visible_frame(data), **kwargs)
