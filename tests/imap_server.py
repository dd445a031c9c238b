"""A throwaway IMAP server for the answer-by-e-mail tests: Debian's ``dovecot`` (dovecot-imapd)
with a configuration of its own in a temporary folder, on a free loopback port, plain IMAP with
password login, one user (``answers``), Maildir mail. Stopped and removed afterwards. As root
its mail processes run as the ``dovecot`` user (never as root)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

from tests.helpers import free_port

DOVECOT = "/usr/sbin/dovecot"
USER, PASSWORD = "answers", "mailbox-secret-42"


def missing_reason() -> str | None:
    if not os.path.exists(DOVECOT):
        return "dovecot is not installed (apt-get install dovecot-imapd; scripts/test does)"
    try:
        import imap_tools  # noqa: F401
    except ImportError:
        return "imap-tools is not installed"
    return None


class ImapServer:
    def __init__(self, *, idle: bool = True):
        self.folder = tempfile.mkdtemp(prefix="offload-console-imap-")
        self.port = free_port()
        runs_as = pwd.getpwnam("dovecot") if os.geteuid() == 0 else pwd.getpwuid(os.getuid())
        home = os.path.join(self.folder, "home", USER)
        os.makedirs(home)
        for path in (self.folder, os.path.join(self.folder, "home"), home):
            if os.geteuid() == 0:
                os.chown(path, runs_as.pw_uid, runs_as.pw_gid)
        with open(os.path.join(self.folder, "passwd"), "w") as passwd:
            passwd.write(f"{USER}:{{PLAIN}}{PASSWORD}:::::\n")
        user = runs_as.pw_name
        # idle=False: the server does not offer IDLE (the reader polls); bench/mail_answers.py
        capability = "" if idle else "imap_capability = IMAP4rev1 LITERAL+ UIDPLUS MOVE"
        config = f"""
base_dir = {self.folder}/run
state_dir = {self.folder}/state
log_path = {self.folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {user}
default_internal_user = {user}
default_internal_group = {runs_as.pw_name if os.geteuid() == 0 else os.getgid()}
mail_location = maildir:~/Maildir
first_valid_uid = 0
{capability}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.folder}/passwd
}}
userdb {{
  driver = static
  args = uid={runs_as.pw_uid} gid={runs_as.pw_gid} home={self.folder}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0600
  }}
}}
"""
        self.config = os.path.join(self.folder, "dovecot.conf")
        with open(self.config, "w") as out:
            out.write(config)
        self.proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", self.config],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_listening()

    def _wait_listening(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dovecot did not start: {self.proc.stderr.read().decode()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("dovecot did not listen within 30 s")

    def url(self, folder: str = "INBOX", **query) -> str:
        extra = "&".join(f"{k}={v}" for k, v in query.items())
        return f"imap://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{folder}" + (
            f"?{extra}" if extra else ""
        )

    def mailbox(self):
        """A client of the tests' own (to deliver replies and look at the folders)."""
        from imap_tools import MailBoxUnencrypted

        return MailBoxUnencrypted("127.0.0.1", self.port).login(USER, PASSWORD)

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        with self.mailbox() as box:
            box.append(raw, folder)

    def count(self, folder: str) -> int:
        with self.mailbox() as box:
            if not box.folder.exists(folder):
                return 0
            box.folder.set(folder)
            return len(box.uids("ALL"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
