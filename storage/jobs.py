"""Jobs every instance runs but only one may do at a time (the notifier, the reconciler).

On PostgreSQL a job belongs to whichever instance holds its session-level advisory lock, on a
connection of the lock's own: the server frees it the moment that connection ends (the
instance stopped, was killed, or lost the network), and another instance takes the job at its
next try, one pass later. Each pass first checks the lock is still held (the connection is
alive), so an instance that lost it stops before sending anything more. On SQLite there is one
console per database (``offload_console.instance``): the job is always this process's.
"""

from __future__ import annotations

import hashlib
import logging

from storage import pg

log = logging.getLogger("offload_console.jobs")


def job_key(name: str) -> int:
    """A stable 63-bit advisory-lock key for a job's name."""
    return int.from_bytes(hashlib.sha256(f"offload-console:{name}".encode()).digest()[:8]) >> 1


class JobLock:
    def __init__(self, database: str, name: str):
        self.database, self.name = database, name
        self._conn = None

    def held(self) -> bool:
        """True when this instance does the job now (taking it if nobody does)."""
        if not pg.is_postgresql(self.database):
            return True
        if self._conn is not None:
            try:
                self._conn.execute("SELECT 1")
                return True
            except pg.psycopg.Error:
                log.warning("job %s: lost its lock (connection ended); trying again", self.name)
                self.release()
        try:
            conn = pg.psycopg.connect(self.database, **pg.session_options(5000))
        except pg.psycopg.Error as exc:
            log.warning("job %s: cannot reach the database: %s", self.name, exc)
            return False
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", [job_key(self.name)]).fetchone()[0]
        if not got:
            conn.close()
            return False
        log.info("job %s: this instance does it now", self.name)
        self._conn = conn
        return True

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except pg.psycopg.Error:
                pass
            self._conn = None
