import pytest

import storage
from tests.helpers import ServerProcess, free_port


@pytest.fixture
def db():
    """A fresh in-memory database with the schema applied."""
    database = storage.open_db(":memory:")
    yield database
    database.conn.close()


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "console.db")


@pytest.fixture
def sidecar(db_path):
    """A real ``offload-console sidecar`` on a free loopback port."""
    server = ServerProcess(
        ["sidecar", "--db", db_path, "--log-level", "info"], env={"OFFLOAD_WEBHOOK_TOKEN": ""}
    )
    server.start(free_port())
    server.db_path = db_path
    yield server
    server.stop()
