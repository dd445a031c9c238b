"""A throwaway PostgreSQL server for the tests and benchmarks: Debian's binaries, ``initdb``
in a temporary folder, ``pg_ctl`` on a free loopback port, stopped and removed afterwards.
As root it runs as the ``postgres`` user (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile

from tests.helpers import free_port

_names = itertools.count(1)


def binaries() -> str | None:
    """The newest installed PostgreSQL's bin folder, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
    return os.path.dirname(found[-1]) if found else None


def _version(path: str) -> float:
    try:
        return float(path.split("/")[4])
    except ValueError:
        return 0.0


def missing_reason() -> str | None:
    """Why the PostgreSQL half cannot run here, or None when it can."""
    if binaries() is None:
        return "PostgreSQL is not installed (apt-get install postgresql; scripts/test does)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]')"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run PostgreSQL as"
    return None


class PostgresServer:
    def __init__(self, *, fsync: bool = False):
        self.bin = binaries()
        self.fsync = fsync
        self.folder = tempfile.mkdtemp(prefix="offload-console-pg-")
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        self.template: str | None = None  # the migrated database tests' databases copy
        self.returned: list[str] = []  # databases finished tests gave back, to empty and reuse
        if self.as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)

    def _run(self, *args: str, check: bool = True) -> None:
        command = [os.path.join(self.bin, args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(
            command, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/"
        )

    def start(self) -> PostgresServer:
        data = os.path.join(self.folder, "data")
        self._run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.start_again()
        return self

    @property
    def _options(self) -> str:
        return (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
            f" -c fsync={'on' if self.fsync else 'off'} -c max_connections=300"
            " -c shared_buffers=256MB"
        )

    def start_again(self) -> None:
        """Start the (stopped) server on its port and folder."""
        data = os.path.join(self.folder, "data")
        self._run(
            "pg_ctl", "-D", data, "-o", self._options, "-l", f"{self.folder}/log", "-w", "start"
        )

    def halt(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: clients told; ``immediate``: as a crash), keep its data."""
        self._run("pg_ctl", "-D", os.path.join(self.folder, "data"), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast") -> None:
        self.halt(mode)
        self.start_again()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)

    def new_database(self, template: str | None = None) -> str:
        """A fresh, empty (or ``template``'s copy) database's URL."""
        name = f"t{os.getpid()}_{next(_names)}"
        self.admin(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return self.url(name)

    def take(self) -> str:
        """An empty, migrated database for one test: one a finished test gave back, emptied,
        else a new copy of ``self.template``."""
        while self.returned:
            url = self.returned.pop()
            try:
                self._empty_unused(url)
                return url
            except Exception:  # noqa: BLE001 - still in use, or broken: not reused
                continue
        return self.new_database(self.template)

    def give_back(self, url: str) -> None:
        self.returned.append(url)

    def _empty_unused(self, url: str) -> None:
        """Empty ``url``'s database unless anyone is still connected to it (a server a test
        left running): then it raises, and the database is left alone."""
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '1s'")
            name = url.rsplit("/", 1)[1]
            others = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                " AND pid <> pg_backend_pid()",
                (name,),
            ).fetchone()[0]
            if others:
                raise RuntimeError(f"{others} connections still open to {name}")
            tables = [
                row[0]
                for row in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                )
            ]
            for statement in _emptying(tables):
                conn.execute(statement)

    def stop(self) -> None:
        data = os.path.join(self.folder, "data")
        if os.path.exists(data):
            self._run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def empty(db) -> None:
    """Every console table of a PostgreSQL database emptied, as freshly migrated."""
    for statement in _emptying(db.table_names()):
        db.execute(statement)


def _emptying(tables: list[str]) -> list[str]:
    """The statements that empty a migrated database's ``tables``, as freshly migrated."""
    emptied = [name for name in tables if name != "_console_migrations"]
    return [
        f"TRUNCATE {', '.join(emptied)} RESTART IDENTITY",
        "INSERT INTO inbox_version (id, n) VALUES (1, 0)",
    ]
