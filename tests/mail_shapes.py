"""Replies written the way real mail clients write them (Gmail, Outlook, Apple Mail; plain text
and HTML-only), for the answer-by-e-mail tests. Each builds the raw bytes a mailbox holds."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

ORIGINAL = (
    "Case: “ACME-7” · “Pat <pat@vendor.example>” · “Collect a W-9”\n"
    "Question (quoted as received):\n"
    "> May we accept a W-9 signed last year?\n"
    "Answer it: http://console.example/?request=r1\n"
    "Notification id: ntf_new_r1_t_1\n"
    "\n"
    "Reply to this e-mail to answer: the new text of your reply goes to Offload as the answer,\n"
    "once, if it comes from avery@example.com. Keep the line below in your reply.\n"
    "Answer token: {token}"
)


def _quoted(token: str) -> str:
    return "\n".join("> " + line for line in ORIGINAL.format(token=token).splitlines())


def gmail_text(answer: str, token: str) -> str:
    return (
        f"{answer}\n\nOn Fri, Dec 4, 2026 at 10:15 AM Offload console <answers+{token}"
        f"@example.com> wrote:\n\n{_quoted(token)}\n"
    )


def gmail_html(answer: str, token: str) -> str:
    original = ORIGINAL.format(token=token).replace("\n", "<br>")
    return (
        f'<div dir="ltr">{answer.replace(chr(10), "<br>")}</div><br>'
        '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Fri, Dec 4, 2026 at '
        "10:15 AM Offload console &lt;answers@example.com&gt; wrote:<br></div>"
        '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex">'
        f"{original}</blockquote></div>"
    )


def outlook_text(answer: str, token: str) -> str:
    return (
        f"{answer}\n\nBest regards\nAvery Smith\n\n"
        "________________________________\n"
        "From: Offload console <answers@example.com>\n"
        "Sent: Friday, December 4, 2026 10:15 AM\n"
        "To: Avery Smith <avery@example.com>\n"
        "Subject: Question waiting: ACME-7\n\n"
        f"{ORIGINAL.format(token=token)}\n"
    )


def outlook_html(answer: str, token: str) -> str:
    original = ORIGINAL.format(token=token).replace("\n", "<br>")
    return (
        '<html><head><style>p{margin:0}</style></head><body><div class="elementToProof">'
        f"{answer.replace(chr(10), '<br>')}</div><div><br></div>"
        '<div id="appendonsend"></div><hr style="display:inline-block;width:98%">'
        '<div id="divRplyFwdMsg" dir="ltr"><b>From:</b> Offload console '
        "&lt;answers@example.com&gt;<br><b>Sent:</b> Friday, December 4, 2026 10:15 AM<br>"
        "<b>Subject:</b> Question waiting: ACME-7</div>"
        f"<div>{original}</div></body></html>"
    )


def apple_text(answer: str, token: str) -> str:
    return (
        f"{answer}\n\nSent from my iPhone\n\n"
        "> On Dec 4, 2026, at 10:15, Offload console <answers@example.com> wrote:\n>\n"
        f"{_quoted(token)}\n"
    )


def apple_html(answer: str, token: str) -> str:
    original = ORIGINAL.format(token=token).replace("\n", "<br>")
    return (
        '<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8">'
        f'</head><body dir="auto"><div dir="ltr">{answer.replace(chr(10), "<br>")}</div>'
        '<div dir="ltr"><br>'
        '<blockquote type="cite">On Dec 4, 2026, at 10:15, Offload console '
        "&lt;answers@example.com&gt; wrote:<br><br></blockquote></div>"
        f'<blockquote type="cite"><div dir="ltr">{original}</div></blockquote></body></html>'
    )


SHAPES = {
    "gmail-text": (gmail_text, "plain"),
    "gmail-html-only": (gmail_html, "html"),
    "gmail-both": (gmail_text, "both"),
    "outlook-text": (outlook_text, "plain"),
    "outlook-html-only": (outlook_html, "html"),
    "apple-text": (apple_text, "plain"),
    "apple-html-only": (apple_html, "html"),
}


def reply(
    answer: str,
    token: str,
    *,
    shape: str = "gmail-text",
    sender: str = "avery@example.com",
    to: str | None = None,
    headers: dict | None = None,
    message_id: str | None = None,
) -> bytes:
    """A reply in ``shape`` to the e-mail carrying ``token``, sent to its reply address
    (``to``: another recipient, e.g. the plain address when a client dropped the + part)."""
    make, kind = SHAPES[shape]
    msg = EmailMessage()
    msg["From"] = f"Avery Smith <{sender}>"
    msg["To"] = to or f"Offload console <answers+{token}@example.com>"
    msg["Subject"] = "Re: Question waiting: ACME-7"
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = message_id or make_msgid(domain="mail.example.com")
    msg["In-Reply-To"] = "<ntf_new_r1_t_1@console.example>"
    for name, value in (headers or {}).items():
        msg[name] = value
    if kind == "plain":
        msg.set_content(make(answer, token))
    elif kind == "html":
        msg.set_content(make(answer, token), subtype="html")
    else:
        msg.set_content(make(answer, token))
        msg.add_alternative(gmail_html(answer, token), subtype="html")
    return msg.as_bytes()
