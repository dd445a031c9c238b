"""One running console per database: an OS lock beside the database for each long-running part.

``offload-console up`` holds the ``sidecar``, ``dashboard`` and ``sandbox`` locks of its
database; ``sidecar`` and ``dashboard`` run alone hold their own, so the documented split (an
always-on sidecar, a dashboard restarted apart) still works, while a second sidecar, a second
dashboard or a second ``up`` on the same database refuses before touching anything. The lock is
``flock`` on ``<database>.<part>.lock``: the kernel frees it when its holder exits, however it
exits (``kill -9`` included), so a stale file never blocks a start. The file's text says who
holds it (pid, since when, ports), for the refusal's message.

A PostgreSQL database takes no lock here: it is made for several consoles at once, each
registered in its ``instances`` table (``storage.instances``), each job done once by the
database's own locks.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass, field

from storage.pg import is_postgresql


def lock_path(resource: str, part: str) -> str:
    """The lock file of ``part`` for ``resource`` (the database; the sandbox's state file)."""
    return f"{os.path.abspath(resource)}.{part}.lock"


class AlreadyRunning(Exception):
    """Another process holds the lock: its ``holder`` record (may be empty while it starts)."""

    def __init__(self, part: str, resource: str, holder: dict):
        self.part = part
        self.resource = resource
        self.holder = holder
        super().__init__(self.describe())

    def describe(self) -> str:
        holder = self.holder
        who = [f"pid {holder['pid']}" if holder.get("pid") else "pid unknown"]
        if holder.get("since"):
            who.append("since " + time.strftime("%H:%M", time.localtime(holder["since"])))
        ports = holder.get("ports") or {}
        shown = ", ".join(f"{name} port {port}" for name, port in ports.items() if port)
        command = holder.get("command") or self.part
        return (
            f"already running: offload-console {command} ({', '.join(who)}"
            + (f"; {shown}" if shown else "")
            + f") holds the {self.part} of {self.resource}; stop it first"
            + (f" (kill {holder['pid']}, or Ctrl-C where it runs)" if holder.get("pid") else "")
        )


@dataclass
class Held:
    """Locks this process holds (released when it exits, or by :meth:`release`)."""

    fds: dict[str, int] = field(default_factory=dict)

    def release(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()

    def keep_across_exec(self) -> None:
        """The locks survive ``exec`` (``offload-console dashboard`` becomes Streamlit)."""
        for fd in self.fds.values():
            os.set_inheritable(fd, True)


def read_holder(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.loads(handle.read() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def hold(
    claims: list[tuple[str, str]], *, command: str, ports: dict[str, int | None] | None = None
) -> Held:
    """Take the lock of every ``(resource, part)`` in ``claims``, all or none; raise
    :class:`AlreadyRunning` naming the first one held elsewhere. Nothing else is touched
    first: only the lock files (and their folder) are created."""
    held = Held()
    record = json.dumps(
        {"pid": os.getpid(), "since": int(time.time()), "command": command, "ports": ports or {}}
    ).encode()
    try:
        for resource, part in claims:
            if is_postgresql(resource):
                continue
            path = lock_path(resource, part)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise AlreadyRunning(part, resource, read_holder(path)) from None
            held.fds[part] = fd
            try:  # who holds it, for a refusal's message: best effort (a full disk)
                os.ftruncate(fd, 0)
                os.pwrite(fd, record, 0)
            except OSError:
                pass
    except BaseException:
        held.release()
        raise
    return held


def holder(resource: str, part: str) -> dict | None:
    """Who holds ``part`` of ``resource`` now (its record), or None if nobody does."""
    if is_postgresql(resource):
        return None
    path = lock_path(resource, part)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_holder(path) or {"pid": None}
    finally:
        os.close(fd)
    return None


class Presence:
    """This process in the database's ``instances`` table (``storage.instances``): registered
    by :meth:`register` (or its first beat), seen again every ``HEARTBEAT_S`` by a daemon
    thread with how it sees things (``status()``: the database, its spool), marked stopped by
    :meth:`stop`. ``on_beat(db, instance_id)`` runs after each beat. A database that cannot be
    reached meanwhile is tried again next beat."""

    def __init__(self, open_db, part: str, port: int | None, *, status=None, on_beat=None):
        import threading

        self.open_db, self.part, self.port = open_db, part, port
        self.status, self.on_beat = status, on_beat
        self.instance_id: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"{part}-presence", daemon=True)

    def start(self) -> Presence:
        self._thread.start()
        return self

    def register(self, db) -> str:
        """Registered now, once (its id is then this process's for good)."""
        from offload_console import __version__
        from storage import instances as registry

        if self.instance_id is None:
            self.instance_id = registry.register(db, self.part, self.port, __version__)
        return self.instance_id

    def _beat(self) -> None:
        import logging

        from storage import StorageError
        from storage import instances as registry

        db = None
        while True:
            try:
                db = db or self.open_db()
                if self.instance_id is None:
                    self.register(db)
                else:
                    registry.seen(
                        db, self.instance_id, status=self.status() if self.status else None
                    )
                if self.on_beat is not None:
                    self.on_beat(db, self.instance_id)
            except StorageError as exc:
                logging.getLogger("offload_console").warning("instance registry: %s", exc)
                db = self._close(db)
            if self._stop.wait(registry.HEARTBEAT_S):
                break
        try:
            if self.instance_id is not None:
                registry.stopped(db or self.open_db(), self.instance_id)
        except StorageError:
            pass  # shown as gone once unseen
        self._close(db)

    @staticmethod
    def _close(db):
        if db is not None:
            try:
                db.conn.close()
            except Exception:  # noqa: BLE001 - already gone
                pass
        return None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
