"""The answer mailbox named by ``OFFLOAD_CONSOLE_ANSWER_MAILBOX`` (read by
``offload_console.mail_reader``): ``imaps://user:password@host[:port]/folder?done=Answered``."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit


class BadMailbox(ValueError):
    """``OFFLOAD_CONSOLE_ANSWER_MAILBOX`` cannot name a mailbox (one line, no password)."""


@dataclass(frozen=True)
class Mailbox:
    secure: bool  # imaps://
    host: str
    port: int
    user: str
    password: str  # secret: never shown or logged
    folder: str = "INBOX"
    done: str = "Answered"

    @property
    def label(self) -> str:
        """The mailbox without its password, for logs and Health."""
        scheme = "imaps" if self.secure else "imap"
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{self.folder}"

    @classmethod
    def from_url(cls, url: str) -> Mailbox:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("imap", "imaps"):
            raise BadMailbox("should be an imap:// or imaps:// URL")
        if not parts.hostname or not parts.username or parts.password is None:
            raise BadMailbox("should name a user, a password and a host: imaps://user:pw@host/")
        try:
            port = parts.port or (993 if parts.scheme == "imaps" else 143)
        except ValueError as exc:
            raise BadMailbox("its port is not a number from 1 to 65535") from exc
        options = dict(parse_qsl(parts.query))
        folder = unquote(parts.path.strip("/")) or "INBOX"
        done = options.get("done", "Answered").strip()
        if not done or done == folder:
            raise BadMailbox("?done= should name a folder other than the one read")
        return cls(
            parts.scheme == "imaps",
            parts.hostname,
            port,
            unquote(parts.username),
            unquote(parts.password),
            folder,
            done,
        )
