"""Issue 31: who else is on a question and who is typing (``storage.presence``), drafts kept
by operator and question, on both engines; and the words the Inbox shows for them."""

from __future__ import annotations

import pytest

from dashboard.format import shortened
from dashboard.inbox_view import presence_words
from storage.presence import (
    PRESENT_MS,
    TYPING_MS,
    Presence,
    draft_of,
    drop_draft,
    heartbeat,
    others_on,
    save_draft,
)

T = 1_800_000_000_000


def test_others_on_a_question_are_those_seen_lately_typing_first_never_me(db):
    heartbeat(db, "s-avery", "Avery", "r1", None, now=T)
    heartbeat(db, "s-blake", "Blake", "r1", T - 1_000, now=T)  # typed a second ago
    heartbeat(db, "s-casey", "Casey", "r2", None, now=T - PRESENT_MS - 1)  # a closed tab
    heartbeat(db, "s-avery-2", "AVERY ", "r2", T, now=T)  # Avery's other tab
    assert others_on(db, "avery", now=T) == {"r1": [Presence("Blake", True)]}
    assert others_on(db, "Blake", now=T) == {
        "r1": [Presence("Avery", False)],
        "r2": [Presence("AVERY ", True)],
    }
    # Typing ends by itself; a tab moving on leaves the question it had.
    assert others_on(db, "Avery", now=T + TYPING_MS + 1) == {"r1": [Presence("Blake", False)]}
    heartbeat(db, "s-blake", "Blake", "r3", None, now=T + 1)
    assert others_on(db, "Avery", now=T + 2) == {"r3": [Presence("Blake", False)]}


def test_an_operators_two_tabs_on_one_question_count_once_typing_if_either_types(db):
    heartbeat(db, "tab-1", "Blake", "r1", None, now=T)
    heartbeat(db, "tab-2", "Blake", "r1", T, now=T)
    assert others_on(db, "Avery", now=T) == {"r1": [Presence("Blake", True)]}


def test_a_draft_is_kept_per_operator_and_question_and_gone_once_sent(db):
    save_draft(db, "Avery", "r1", "Yes, Monday", now=T)
    save_draft(db, "Blake", "r1", "No", now=T)
    save_draft(db, "Avery", "r1", "Yes, Monday is fine", now=T + 1)  # the newest text
    assert draft_of(db, "Avery", "r1") == "Yes, Monday is fine"
    assert draft_of(db, "Blake", "r1") == "No"
    assert draft_of(db, "Avery", "r2") is None
    drop_draft(db, "Avery", "r1")
    assert draft_of(db, "Avery", "r1") is None and draft_of(db, "Blake", "r1") == "No"
    save_draft(db, "Blake", "r1", "   ", now=T + 2)  # emptied: nothing to keep
    assert draft_of(db, "Blake", "r1") is None


def test_presence_reads_as_english():
    assert presence_words([Presence("Blake", True)]) == "Blake is typing"
    assert presence_words([Presence("Blake", False), Presence("Casey", False)]) == (
        "Blake and Casey are viewing"
    )
    assert presence_words(
        [Presence("Blake", True), Presence("Casey", False), Presence("Dana", False)]
    ) == ("Blake is typing · Casey and Dana are viewing")


def test_shortened_keeps_one_line_and_says_it_was_cut():
    assert shortened("Yes,\n  Monday  is fine") == "Yes, Monday is fine"
    assert shortened("x" * 100, 10) == "xxxxxxxxx…"


def test_a_writer_holding_the_consoles_lock_delays_no_heartbeat_nor_draft(engine, db_url):
    """PostgreSQL: another instance's writer holding the console's write lock (a stall) does not
    hold up the presence and draft upserts (SQLite has one writer whatever the lock)."""
    if engine != "postgresql":
        pytest.skip("SQLite has one writer: its busy timeout is the same for every write")
    import storage
    from storage.db import write_transaction

    db, other = storage.open_db(db_url), storage.open_db(db_url)
    with write_transaction(other):  # held, as a stalled writer would: waiting for it would
        # end in the busy timeout's StorageError
        heartbeat(db, "s-avery", "Avery", "r1", T, now=T)
        save_draft(db, "Avery", "r1", "typed while another instance wrote", now=T)
    assert draft_of(db, "Avery", "r1") == "typed while another instance wrote"
    assert others_on(db, "Blake", now=T) == {"r1": [Presence("Avery", True)]}
