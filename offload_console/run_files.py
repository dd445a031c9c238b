"""The files a running console leaves for this user's other commands, each in a folder its
caller names (``settings.data_dir``, ``settings.local_dir``):

- ``current.json`` in the per-user folder: the database of the console running for this user
  (``up`` and a lone ``sidecar`` write it while they hold the database's sidecar lock); every
  command without ``--db`` uses that database. Readable by this user only (a PostgreSQL URL
  holds its password).
- ``up.json`` in the database's local folder: ``up``'s pid and its sandbox's and sidecar's
  ports; ``create``, ``sync`` and ``demo`` with no ``OFFLOAD_BASE_URL`` talk to that sandbox
  and name that sidecar, whatever ports ``up`` was given.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from offload_console import instance


def current_path(folder: Path) -> Path:
    return folder / "current.json"


def read_current(folder: Path) -> str | None:
    """The database of the console running for this user, while its sidecar lock is held."""
    try:
        data = json.loads(current_path(folder).read_text(encoding="utf-8"))
        path = str(data["db"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return path if instance.holder(path, "sidecar") is not None else None


def write_current(folder: Path, db: str) -> None:
    """This process (holding ``db``'s sidecar lock) is the running console."""
    folder.mkdir(parents=True, exist_ok=True)
    temporary = current_path(folder).with_suffix(f".{os.getpid()}.tmp")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(handle, "w", encoding="utf-8") as out:
        out.write(json.dumps({"db": db, "pid": os.getpid()}))
    temporary.replace(current_path(folder))


def remove_current(folder: Path, db: str) -> None:
    """At stop: ``current.json`` goes if it still names this process."""
    try:
        data = json.loads(current_path(folder).read_text(encoding="utf-8"))
        if data.get("pid") == os.getpid() and data.get("db") == db:
            current_path(folder).unlink()
    except (OSError, ValueError, AttributeError):
        pass


def up_path(local: Path) -> Path:
    return local / "up.json"


def write_up(local: Path, *, sandbox_port: int | None, sidecar_port: int) -> None:
    data = {"pid": os.getpid(), "sandbox_port": sandbox_port, "sidecar_port": sidecar_port}
    local.mkdir(parents=True, exist_ok=True)
    with open(up_path(local), "w", encoding="utf-8") as handle:
        json.dump(data, handle)


def remove_up(local: Path) -> None:
    try:
        os.unlink(up_path(local))
    except FileNotFoundError:
        pass


def read_up(local: Path) -> dict | None:
    """The run file of an ``up`` that is still running for this database, if any."""
    try:
        with open(up_path(local), encoding="utf-8") as handle:
            data = json.load(handle)
        os.kill(int(data["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return data
