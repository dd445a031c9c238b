import pytest
from hypothesis import HealthCheck, settings

import storage
from tests.helpers import ServerProcess, free_port

# This machine is shared and noisy: Hypothesis checks what the code does, never how fast the
# examples come (no deadline, no "generation is slow" failure).
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")


@pytest.fixture(scope="session", autouse=True)
def own_data_folder(tmp_path_factory):
    """The console's per-user folder (default database, ``current.json``) is the suite's own:
    nothing a test runs finds or writes the user's."""
    import os

    folder = tmp_path_factory.mktemp("xdg-data")
    before = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(folder)
    yield folder
    if before is None:
        del os.environ["XDG_DATA_HOME"]
    else:
        os.environ["XDG_DATA_HOME"] = before


@pytest.fixture(autouse=True)
def close_pg_pools():
    """Each test's PostgreSQL connections end with it (a pool per database keeps them)."""
    yield
    storage.pg.close_pools()


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.sqlite_only`` tests (SQLite's own machinery) run on SQLite alone."""
    dropped = [
        item
        for item in items
        if item.get_closest_marker("sqlite_only") and "[postgresql" in item.nodeid
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]
    # The tests that start servers and wait on them first (a stable sort: each module's tests
    # stay together): under pytest-xdist the quick ones then fill the gaps instead of one
    # long test starting last and running alone.
    items.sort(
        key=lambda item: (
            not item.get_closest_marker("browser") and not item.get_closest_marker("slow")
        )
    )


@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL server for the run (``tests/pg_server.py``), with a migrated template
    database that each test's database is copied from; skipped, saying why, without one."""
    from tests.pg_server import PostgresServer, missing_reason

    reason = missing_reason()
    if reason:
        pytest.skip(f"PostgreSQL half skipped: {reason}")
    server = PostgresServer().start()
    template = server.new_database()
    storage.open_db(template).conn.close()  # migrated once; copied per test
    storage.pg.close_pools()  # nobody may stay connected to a template
    server.template = template.rsplit("/", 1)[1]
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request):
    """Each test that takes a database runs on both engines."""
    return request.param


@pytest.fixture
def db_url(engine, request):
    """A fresh database's ``--db`` value: a SQLite file, or an empty PostgreSQL database (a
    copy of the migrated template, or one an earlier test used, emptied: 80 ms against 350)."""
    if engine == "sqlite":
        yield str(request.getfixturevalue("tmp_path") / "console.db")
        return
    server = request.getfixturevalue("postgres")
    url = server.take()
    yield url
    storage.pg.close_pools()
    server.give_back(url)


@pytest.fixture
def blank_db(engine, request):
    """``blank_db(slot=0)``: an empty database on the test's engine, for tests that need
    several (one per ``slot``) or a fresh one per Hypothesis example. SQLite: a new in-memory
    one each call; PostgreSQL: the slot's database, emptied."""
    from tests.pg_server import empty

    opened, urls = [], {}

    def make(slot: int = 0):
        if engine == "sqlite":
            database = storage.open_db(":memory:")
        else:
            if slot not in urls:
                urls[slot] = request.getfixturevalue("postgres").take()
            database = storage.open_db(urls[slot])
            empty(database)
        opened.append(database)
        return database

    yield make
    for database in opened:
        try:
            database.conn.close()
        except Exception:  # noqa: BLE001 - closed by the test already
            pass
    if urls:
        storage.pg.close_pools()
        server = request.getfixturevalue("postgres")
        for url in urls.values():
            server.give_back(url)


@pytest.fixture
def db(engine, request):
    """A fresh database with the schema applied: in memory on SQLite, a new database on
    PostgreSQL."""
    if engine == "sqlite":
        database = storage.open_db(":memory:")
    else:
        database = storage.open_db(request.getfixturevalue("db_url"))
    yield database
    database.conn.close()


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "console.db")


@pytest.fixture
def sidecar(db_url):
    """A real ``offload-console sidecar`` on a free loopback port, on each engine."""
    server = ServerProcess(
        ["sidecar", "--db", db_url, "--log-level", "info", "--reconcile-every", "0"],
        env={"OFFLOAD_WEBHOOK_TOKEN": ""},
    )
    server.start(free_port())
    server.db_path = db_url
    yield server
    server.stop()


class InProcessSidecar:
    """The sidecar's app (``create_app``) served in this process through Starlette's
    ``TestClient``: its HTTP behaviour without a process to start (a real process is for what
    needs one: signals, kill, slow clients, concurrency, the log)."""

    def __init__(self, db_path: str):
        from starlette.testclient import TestClient

        from sidecar.app import create_app

        self.db_path = db_path
        self.client = TestClient(create_app(db_path), raise_server_exceptions=True)

    def post(self, path: str, **kwargs):
        return self.client.post(path, **kwargs)

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)


@pytest.fixture(scope="session")
def fast_sandbox():
    """One sandbox for the whole run whose hours last 0.01 s (every scenario ends within
    10 s); its webhooks go where each case's body says. Tests that need their own (slow
    hours, a state file, a restart) start their own."""
    from tests.helpers import SANDBOX_KEY

    server = ServerProcess(["sandbox", "--api-key", SANDBOX_KEY, "--hour-seconds", "0.01"])
    server.start(free_port())
    yield server
    server.stop()


@pytest.fixture
def app_sidecar(db_url):
    """The sidecar's app in this process, on each engine."""
    server = InProcessSidecar(db_url)
    with server.client:  # runs the app's lifespan: the writer thread starts and stops
        yield server


# The ports a console the user is running listens on: no test may talk to them.
USERS_PORTS = (8787, 8788, 8501)


@pytest.fixture(scope="session", autouse=True)
def users_ports_untouched():
    """Fails the run if anything (a test, a server it started, a webhook a sandbox sent)
    connected to 8787, 8788 or 8501 while the tests ran."""
    from tests.helpers import PortGuard

    guards = [PortGuard(port) for port in USERS_PORTS]
    yield guards
    for guard in guards:
        guard.close()
    touched = {g.port: g.connections for g in guards if g.connections}
    assert not touched, f"tests connected to a running console's ports: {touched}"


@pytest.fixture(autouse=True)
def sidecar_port_of_nobody(monkeypatch):
    """Pages and commands that look for the local sidecar (Health, the default webhook URL)
    look on a free port nobody listens on, unless a test points them at its own."""
    import os

    if not os.environ.get("OFFLOAD_CONSOLE_SIDECAR_PORT"):
        monkeypatch.setenv("OFFLOAD_CONSOLE_SIDECAR_PORT", str(free_port()))


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through Playwright, one for the whole run (tests that use it are
    marked ``needs_chromium`` and skipped without it)."""
    from playwright.sync_api import sync_playwright

    from tests.browser import ARGS, CHROMIUM

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield LoadTolerantBrowser(chromium)
        chromium.close()


class LoadTolerantBrowser:
    """The browser, whose pages and contexts wait up to SERVER_WAIT_MS (not Playwright's
    30 s) for anything: a click or a selector waits on the server, which a loaded machine
    slows. Every wait still ends as soon as its condition holds."""

    def __init__(self, browser):
        self._browser = browser

    def new_page(self, **kwargs):
        from tests.browser import SERVER_WAIT_MS

        page = self._browser.new_page(**kwargs)
        page.set_default_timeout(SERVER_WAIT_MS)
        return page

    def new_context(self, **kwargs):
        from tests.browser import SERVER_WAIT_MS

        context = self._browser.new_context(**kwargs)
        context.set_default_timeout(SERVER_WAIT_MS)
        return context

    def __getattr__(self, name):
        return getattr(self._browser, name)


@pytest.fixture
def env_db(db_url, monkeypatch):
    """The dashboard's database by environment (on each engine), an API key to keep secret,
    and an Offload base URL where nothing listens."""
    monkeypatch.setenv("OFFLOAD_CONSOLE_DB", db_url)
    monkeypatch.setenv("OFFLOAD_API_KEY", "sk_CANARY_do_not_show_9f2")
    monkeypatch.setenv("OFFLOAD_BASE_URL", f"http://127.0.0.1:{free_port()}")  # nothing there
    database = storage.open_db(db_url)
    yield database
    database.conn.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A passing test leaves no server log behind (they are kept, and named in the report,
    when it fails): the logs of every stopped server are deleted after each passing test."""
    import os

    from tests.helpers import STARTED

    outcome = yield
    report = outcome.get_result()
    if report.when == "teardown":
        failed = getattr(item, "_failed_phase", False) or report.failed
        for server in [s for s in STARTED if s.stopped]:
            STARTED.remove(server)  # a failed test's logs are kept for good, not by the next
            if not failed:
                try:
                    os.unlink(server.log.name)
                except OSError:
                    pass
        if report.failed:
            for server in STARTED:
                report.sections.append(("server log kept", server.log.name))
    elif report.failed:
        item._failed_phase = True
        for server in STARTED:
            report.sections.append(("server log kept", server.log.name))
