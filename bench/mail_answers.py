"""Seconds from a reply landing in the answer mailbox to its answer reaching Offload, through
`offload-console up` (sandbox, sidecar), Debian's dovecot and an SMTP server: with IMAP IDLE,
and with a server that has no IDLE (the reader polls every 5 s).

    .venv/bin/python bench/mail_answers.py [--replies 8]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

import storage  # noqa: E402
from storage.operators import set_email, upsert_operator  # noqa: E402
from tests.browser import launch_questions, running_stack  # noqa: E402
from tests.helpers import wait_until  # noqa: E402
from tests.imap_server import ImapServer  # noqa: E402
from tests.mail_shapes import reply  # noqa: E402
from tests.test_notify_servers import Mailbox  # noqa: E402


def answered(stack, request_id: str) -> bool:
    response = httpx.get(
        stack["sandbox"] + "/_sandbox/answers", headers={"x-api-key": "sandbox-local-key"}
    )
    return any(a["inputRequestId"] == request_id for a in response.json()["data"])


def run(replies: int, idle: bool) -> list[float]:
    imap, smtp = ImapServer(idle=idle), Mailbox()
    env = {
        "OFFLOAD_CONSOLE_NOTIFY_URLS": smtp.url(to="avery@example.com"),
        "OFFLOAD_CONSOLE_ANSWER_MAILBOX": imap.url(),
        "OFFLOAD_CONSOLE_ANSWER_ADDRESS": "answers@example.com",
    }
    try:
        with running_stack(Path(tempfile.mkdtemp()), "0", env) as stack:
            db = storage.open_db(stack["db"])
            upsert_operator(db, "avery", "x", "bench")
            set_email(db, "avery", "avery@example.com")
            launch_questions(stack, [f"bench-{n}" for n in range(replies)])
            wait_until(lambda: len(smtp.messages) >= replies, 120, 0.2, "every e-mail")
            tokens = {}
            for _, _, content in smtp.messages:
                parsed = email.message_from_string(content, policy=email.policy.default)
                text = parsed.get_body(("plain",)).get_content()
                request_id = text.split("?request=", 1)[1].split()[0]
                tokens[request_id] = str(parsed["Reply-To"]).split("+")[1].split("@")[0]
            seconds = []
            for request_id, token in tokens.items():
                time.sleep(1.3)  # between replies, as a person would (and off the poll's beat)
                start = time.monotonic()
                imap.deliver(reply("Yes, accept it.", token))
                wait_until(lambda r=request_id: answered(stack, r), 60, 0.02, "answered")
                seconds.append(time.monotonic() - start)
            return seconds
    finally:
        imap.stop()
        smtp.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replies", type=int, default=8)
    args = parser.parse_args()
    figures = {}
    for idle in (True, False):
        seconds = run(args.replies, idle)
        figures[idle] = statistics.median(seconds)
        print(
            f"{'IDLE' if idle else 'no IDLE (poll every 5 s)'}: reply in the mailbox → answer at "
            f"Offload: median {statistics.median(seconds):.2f} s, worst {max(seconds):.2f} s "
            f"over {len(seconds)}"
        )
    print(f"ratio poll / IDLE (medians): {figures[False] / figures[True]:.1f}")


if __name__ == "__main__":
    main()
