"""Answering by replying to a question's e-mail: the token, reading replies as real clients
write them, and what each reply may do (both engines; Offload faked, counting its POSTs)."""

import json

import pytest

from offload_console.mail_answers import handle, invite, inviter, reply_address, token_hash
from offload_console.mail_parse import MAX_PARTS, auth_verdict, new_text, read_reply
from offload_console.notify import send_due, switch_on, targets_from_urls
from storage import audit, now_ms
from storage import mail_replies as store
from storage.operators import set_email, upsert_operator
from tests.mail_shapes import SHAPES, reply
from tests.test_answers import Offload, seed

ADDRESS = "answers@example.com"
ANSWER = "Yes, accept it.\nUse PO 7781 on the invoice."


class Recording(Offload):
    """The fake Offload, keeping each POSTed answer's text."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.texts: list[str] = []

    def __call__(self, request):
        if request.method == "POST":
            self.texts.append(json.loads(request.content)["providedContext"])
        return super().__call__(request)


@pytest.fixture
def team(db):
    seed(db)  # case c1 waits on question r1
    for name, email in (("avery", "avery@example.com"), ("blake", "blake@example.com")):
        upsert_operator(db, name, "x", None)
        set_email(db, name, email)
    return db


def token_for(db, operator="avery", address="avery@example.com", request_id="r1") -> str:
    reply_to, footer = invite(db, ADDRESS, request_id, operator, address)
    token = footer.rsplit(": ", 1)[1]
    assert reply_to == f"answers+{token}@example.com"
    return token


def run(db, offload, raw, **options):
    client = offload.client()
    try:
        return handle(db, client, raw, answer_address=ADDRESS, dashboard_url="http://c", **options)
    finally:
        client.close()


def row(db, key_of: bytes):
    return store.message(db, read_reply(key_of, ADDRESS).key)


# -- the token ---------------------------------------------------------------------------------


def test_a_token_is_unguessable_kept_only_as_a_hash_and_names_question_and_operator(team):
    first, second = token_for(team), token_for(team)
    assert first != second and len(first) == 26
    assert reply_address(ADDRESS, first) == f"answers+{first}@example.com"
    stored = team.execute("SELECT token_hash, input_request_id, operator FROM reply_tokens")
    rows = list(stored)
    assert {r[0] for r in rows} == {token_hash(first), token_hash(second)}
    assert first not in json.dumps([list(r) for r in rows])
    assert {(r[1], r[2]) for r in rows} == {("r1", "avery")}


def test_only_an_operators_registered_address_gets_a_reply_address(team):
    invite_for = inviter(ADDRESS, frozenset({"oidc.person@example.com"}))
    assert invite_for(team, "r1", "ops-list@example.com") is None
    assert invite_for(team, "r1", "Blake@Example.com")[0].startswith("answers+")
    assert invite_for(team, "r1", "oidc.person@example.com") is not None  # OIDC: by e-mail


def test_an_email_about_a_question_carries_each_operators_own_reply_address(db):
    upsert_operator(db, "avery", "x", None)
    set_email(db, "avery", "avery@example.com")
    url = "mailto://127.0.0.1:9?from=console@example.com&to=ops@example.com,avery@example.com"
    targets = targets_from_urls([url, "json://127.0.0.1:9/hook"])
    switch_on(db, targets, now=now_ms())
    seed(db)
    sent = []

    def record(target, title, body, recipient):
        sent.append((target, body, recipient))

    send_due(
        db,
        targets,
        now=now_ms(),
        dashboard_url="http://c",
        answer_within_ms=3_600_000,
        send=record,
        invite=inviter(ADDRESS, frozenset()),
    )
    by_recipient = {recipient: (target, body) for target, body, recipient in sent}
    assert set(by_recipient) == {"ops@example.com", "avery@example.com", None}
    target, body = by_recipient["avery@example.com"]
    token = body.split("Answer token: ", 1)[1].split("\n", 1)[0]
    assert body.splitlines()[-1].startswith("Notification id: ntf_")  # still the last line
    assert f"reply=answers%2B{token}%40example.com" in target.url
    assert "Reply to this e-mail to answer" in body
    assert store.token(db, token_hash(token))["operator"] == "avery"
    for other in ("ops@example.com", None):  # a list's address, and the JSON hook: no token
        assert "Answer token" not in by_recipient[other][1]
        assert "reply=" not in by_recipient[other][0].url


# -- the reply's new text ----------------------------------------------------------------------


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_answer_is_the_new_text_of_a_reply_as_each_client_writes_it(shape):
    token = "a" * 26
    for to in (None, ADDRESS):  # the reply address, or the plain one (the + part dropped)
        found = read_reply(reply(ANSWER, token, shape=shape, to=to), ADDRESS)
        assert found.text == ANSWER, shape
        assert found.tokens == (token,) and found.sender == "avery@example.com"


def test_quoted_history_alone_is_no_answer_and_other_languages_and_lists_are_read():
    assert new_text("On Fri, Dec 4, 2026 at 10:15 AM X <a@b.example> wrote:\n> q") == ""
    assert new_text("> only the quote\n> again") == ""
    german = "Ja, bitte.\n\nAm Fr., 4. Dez. 2026 um 10:15 Uhr schrieb X <a@b.example>:\n> q"
    assert new_text(german) == ("Ja, bitte.")
    listed = "Approve:\n- line 1\n- line 2\n\nOn Fri, Dec 4, 2026, X <a@b.example> wrote:\n> q"
    assert new_text(listed) == "Approve:\n- line 1\n- line 2"


def test_the_receiving_servers_verdict():
    assert auth_verdict(None) is None
    assert auth_verdict("mx.example.com; dkim=pass header.d=example.com; dmarc=pass") == "pass"
    assert auth_verdict("mx.example.com; dkim=fail header.d=example.com") == "fail"
    assert auth_verdict("mx.example.com; dkim=fail; dkim=pass header.d=e.com") == "pass"
    assert auth_verdict("mx.example.com; dkim=pass; dmarc=fail (p=reject)") == "fail"
    assert auth_verdict("mx.example.com; spf=pass") is None


# -- what a reply does -------------------------------------------------------------------------


def test_a_reply_answers_once_through_the_dashboards_path_and_is_confirmed(team):
    offload, token = Recording(), token_for(team)
    raw = reply(ANSWER, token, message_id="<m1@mail.example.com>")
    done = run(team, offload, raw)
    assert (done.outcome, offload.texts) == ("answered", [ANSWER])
    request = team.execute(
        "SELECT status, answered_by, answered_via, answer FROM input_requests"
    ).fetchone()
    assert tuple(request)[1:] == ("avery", "e-mail", ANSWER)
    (entry,) = [e for e in audit.list_audit(team) if e["action"] == "answer.sent"]
    assert json.loads(entry["detail"])["messageId"] == "<m1@mail.example.com>"
    assert json.loads(entry["detail"])["via"] == "e-mail"
    event = team.execute(
        "SELECT payload FROM events WHERE event_type = 'console.answered'"
    ).fetchone()
    assert json.loads(event[0])["data"]["answeredVia"] == "e-mail"
    mail = row(team, raw)
    assert (mail["outcome"], mail["reply_status"], mail["reply_to"]) == (
        "answered",
        "PENDING",
        "avery@example.com",
    )
    assert "> Use PO 7781 on the invoice." in mail["reply_body"]
    # The same message read again (a crash before it left the inbox) does nothing again.
    assert run(team, offload, raw).outcome == "seen"
    # A second reply, another message: refused, and the operator told by whom it was answered.
    second = reply("No, wait", token)
    again = run(team, offload, second)
    assert (again.outcome, again.reason) == ("refused", "answered")
    assert offload.posts == 1
    assert "already answered by avery (e-mail)" in row(team, second)["reply_body"]


def test_a_message_read_again_after_a_crash_mid_send_sends_nothing_twice(team):
    offload, token = Recording(), token_for(team)
    raw = reply(ANSWER, token)
    first = run(team, offload, raw)
    assert first.outcome == "answered"
    # As if the reader died after the answer was sent and before its outcome was written.
    team.execute(
        "UPDATE mail_replies SET outcome = NULL, reply_status = 'NONE' WHERE message_key = ?",
        [read_reply(raw, ADDRESS).key],
    )
    again = run(team, offload, raw)
    assert again.outcome == "answered" and offload.posts == 1


@pytest.mark.parametrize(
    "case",
    ["other_sender", "other_token", "unknown_token", "expired", "empty", "dkim_fail", "auth"],
)
def test_forged_or_stale_replies_answer_nothing(team, case):
    offload, token = Recording(), token_for(team)
    raw, options, reason = reply(ANSWER, token, sender="mallory@evil.example"), {}, None
    if case == "other_sender":
        reason = "not_your_address"
    elif case == "other_token":  # Blake replies with the token made for Avery
        raw, reason = reply(ANSWER, token, sender="blake@example.com"), "not_your_address"
    elif case == "unknown_token":
        raw, reason = reply(ANSWER, "b" * 26), "no_token"
    elif case == "expired":
        team.execute("UPDATE input_requests SET status = 'RESOLVED'")
        raw, reason = reply(ANSWER, token), "expired"
    elif case == "empty":
        raw, reason = reply("", token), "empty"
    elif case == "dkim_fail":
        headers = {"Authentication-Results": "mx.example.com; dkim=fail header.d=example.com"}
        raw, reason = reply(ANSWER, token, headers=headers), "not_authenticated"
    elif case == "auth":  # a pass is required, and the server gave no verdict
        raw, reason, options = reply(ANSWER, token), "not_authenticated", {"require_auth": True}
    done = run(team, offload, raw, **options)
    assert (done.outcome, done.reason, offload.posts) == ("refused", reason, 0)
    mail = row(team, raw)
    if case == "other_sender":  # a stranger gets no mail back (no backscatter)
        assert mail["reply_status"] == "NONE"
    else:
        assert mail["reply_status"] == "PENDING" and "Nothing was sent" in mail["reply_body"]
    refusals = [e for e in audit.list_audit(team) if e["action"] == "answer.email_refused"]
    assert json.loads(refusals[0]["detail"])["reason"] == reason


def test_only_the_named_receiving_servers_verdict_counts(team):
    """A sender can write its own Authentication-Results; with the receiving server named,
    only that server's verdict counts."""
    offload, token = Recording(), token_for(team)
    forged = {"Authentication-Results": "mx.evil.example; dkim=pass; dmarc=pass"}
    raw = reply(ANSWER, token, headers=forged)
    done = run(team, offload, raw, require_auth=True, authserv_id="mx.example.com")
    assert (done.reason, offload.posts) == ("not_authenticated", 0)
    ours = {"Authentication-Results": "mx.example.com; dkim=pass header.d=example.com"}
    done = run(
        team,
        offload,
        reply(ANSWER, token, headers=ours),
        require_auth=True,
        authserv_id="MX.example.com",
    )
    assert done.outcome == "answered" and offload.texts == [ANSWER]


def test_a_required_pass_lets_a_signed_reply_answer(team):
    offload, token = Recording(), token_for(team)
    headers = {"Authentication-Results": "mx.example.com; dkim=pass; dmarc=pass"}
    done = run(team, offload, reply(ANSWER, token, headers=headers), require_auth=True)
    assert done.outcome == "answered" and offload.texts == [ANSWER]


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"X-Autoreply": "yes"},
        {"Return-Path": "<>"},
    ],
)
def test_automatic_mail_answers_nothing_and_gets_no_confirmation(team, headers):
    offload, token = Recording(), token_for(team)
    raw = reply("I am out of the office until Monday.", token, headers=headers)
    done = run(team, offload, raw)
    assert (done.outcome, offload.posts) == ("ignored", 0)
    assert row(team, raw)["reply_status"] == "NONE"


def _mime_bomb(token: str) -> bytes:
    parts = "".join(
        f"--b\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n" for i in range(MAX_PARTS + 5)
    )
    return (
        "From: avery@example.com\r\nTo: answers+" + token + "@example.com\r\n"
        "Message-ID: <bomb@x>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + parts + "--b--\r\n"
    ).encode()


def test_huge_malformed_undecodable_and_bomb_messages_are_refused_alone(team):
    offload, token = Recording(), token_for(team)
    huge = reply("x" * 100, token)
    undecodable = (
        b"From: avery@example.com\r\nTo: answers+" + token.encode() + b"@example.com\r\n"
        b"Message-ID: <bad@x>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\xff\xfe\xfa yes\r\n"
    )
    unknown_charset = undecodable.replace(b"utf-8", b"x-no-such-charset").replace(b"bad@", b"u@")
    garbage = b"\x00\x01 not a message at all \xff" * 10
    cases = [
        (run(team, offload, huge, size=50_000_000), "too_big"),
        (run(team, offload, undecodable), "undecodable"),
        (run(team, offload, unknown_charset), "undecodable"),
        (run(team, offload, _mime_bomb(token)), "malformed"),
        (run(team, offload, garbage), "undecodable"),
    ]
    assert [(d.outcome, d.reason) for d, _ in cases] == [("refused", r) for _, r in cases]
    assert offload.posts == 0
    # ... and the reader goes on: a good reply after them answers.
    assert run(team, offload, reply(ANSWER, token)).outcome == "answered"
    assert offload.texts == [ANSWER]


def test_an_answer_longer_than_the_dashboard_takes_is_refused(team):
    offload, token = Recording(), token_for(team)
    done = run(team, offload, reply("y" * 10_001, token))
    assert (done.outcome, done.reason, offload.posts) == ("refused", "too_long", 0)


def test_a_reply_from_an_address_no_longer_the_operators_answers_nothing(team):
    offload, token = Recording(), token_for(team)
    set_email(team, "avery", "avery@new.example")
    done = run(team, offload, reply(ANSWER, token))
    assert (done.reason, offload.posts) == ("not_your_address", 0)


# -- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env, words",
    [
        ({"OFFLOAD_CONSOLE_ANSWER_MAILBOX": "pop3://u:pw@host/"}, "imap:// or imaps://"),
        ({"OFFLOAD_CONSOLE_ANSWER_MAILBOX": "imaps://host/INBOX"}, "a user, a password"),
        (
            {"OFFLOAD_CONSOLE_ANSWER_MAILBOX": "imaps://u:Secret-pw-9@host/INBOX"},
            "without OFFLOAD_CONSOLE_ANSWER_ADDRESS",
        ),
        (
            {
                "OFFLOAD_CONSOLE_ANSWER_MAILBOX": "imaps://u:Secret-pw-9@host/INBOX?done=INBOX",
                "OFFLOAD_CONSOLE_ANSWER_ADDRESS": ADDRESS,
            },
            "other than the one read",
        ),
        ({"OFFLOAD_CONSOLE_ANSWER_ADDRESS": "answers+x@example.com"}, "without a + part"),
    ],
)
def test_a_mailbox_setting_that_cannot_work_is_named_without_its_password(env, words):
    from offload_console import settings

    (problem,) = settings.load(env).problems
    assert words in problem and "Secret-pw-9" not in problem


def test_the_mailboxs_password_is_masked_like_every_secret(monkeypatch):
    from offload_console import settings
    from offload_console.mailbox import Mailbox

    url = "imaps://answers%40example.com:Pa%24%24-word-77@imap.example.com:993/INBOX"
    monkeypatch.setenv("OFFLOAD_CONSOLE_ANSWER_MAILBOX", url)
    monkeypatch.setenv("OFFLOAD_CONSOLE_ANSWER_ADDRESS", ADDRESS)
    box = settings.answer_mailbox()
    assert (box.user, box.password, box.port) == ("answers@example.com", "Pa$$-word-77", 993)
    assert "Pa$$" not in box.label and box.label.startswith("imaps://answers@example.com@")
    assert {"Pa$$-word-77", "Pa%24%24-word-77"} <= set(settings.secret_values())
    assert Mailbox.from_url(url.replace("imaps", "imap").replace(":993", "")).port == 143


def test_health_says_what_the_last_days_replies_came_to(team):
    from dashboard.health_checks import answer_mail_rows

    now = now_ms()
    assert answer_mail_rows(None, store.summary(team, 0), "UTC", now)[0][1] == "off"
    offload, token = Recording(), token_for(team)
    run(team, offload, reply(ANSWER, token))
    run(team, offload, reply("again", token))
    store.mark_replied(team, read_reply(reply("x", token), ADDRESS).key, None)  # unknown: no-op
    ((name, state, text),) = answer_mail_rows(
        "imaps://a@h:993/INBOX", store.summary(team, 0), "UTC", now
    )
    assert (name, state) == ("Answers by e-mail", "ok")
    assert "1 answered, 1 refused" in text and "2 confirmations waiting" in text
    for row in store.replies_due(team):
        for _ in range(store.REPLY_GIVE_UP_AFTER):
            store.mark_replied(team, row["message_key"], "SMTP 554 refused")
    ((_, state, text),) = answer_mail_rows(
        "imaps://a@h:993/INBOX", store.summary(team, 0), "UTC", now
    )
    assert state == "PROBLEM" and "2 confirmations given up" in text and "SMTP 554" in text
