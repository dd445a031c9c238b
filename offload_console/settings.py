"""Every environment variable the console reads, in one place (documented in
docs/configuration.md): parsed once into one :class:`Settings` (:func:`current`), whose
defaults are written there; the functions below answer from it.

No other module reads ``os.environ`` (``tests/test_walls.py`` checks): the CLI and the
dashboard read their settings here and hand them on as arguments, so ``storage``, ``sidecar``,
``reconciler`` and ``offload_client`` take everything they need as parameters.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

import storage
from offload_client import DEFAULT_SANDBOX_API_KEY, DEFAULT_SANDBOX_URL, OffloadClient
from offload_console import run_files
from offload_console.mailbox import BadMailbox, Mailbox
from storage import DEFAULT_DB_NAME
from storage.db import DEFAULT_BUSY_TIMEOUT_MS
from storage.events import parse_window_ms
from storage.inbox import DEFAULT_ANSWER_WITHIN_MS
from storage.pg import db_passwords, is_postgresql, masked, redacted

DEFAULT_SIDECAR_HOST = "127.0.0.1"
DEFAULT_SIDECAR_PORT = 8787
DEFAULT_SANDBOX_PORT = 8788
DEFAULT_DASHBOARD_PORT = 8501
DEFAULT_RECONCILE_EVERY_S = 30.0
DEFAULT_DASHBOARD_URL = "http://127.0.0.1:8501"
DEFAULT_ANSWER_WITHIN = f"{DEFAULT_ANSWER_WITHIN_MS // 3_600_000}h"
DEFAULT_NOTIFY_RETRY_S = 10.0
DEFAULT_NOTIFY_RECOVER_S = 15.0
DEFAULT_REMIND_AT = 75
DEFAULT_SESSION_HOURS = 12.0
DEFAULT_REQUEST_TIMEOUT_S = 10.0


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (an address to bind, or a client's address) is this machine only.
    An empty address binds every interface, so it is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _raw(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


class BadSetting(ValueError):
    """A variable holds what it cannot: one line naming it, what it holds and what it should
    hold (the CLI prints it and exits 2)."""


def _number(
    env: Mapping[str, str],
    name: str,
    default: float | None,
    *,
    low: float,
    high: float,
    what: str,
    whole: bool = False,
) -> float | None:
    """``name`` as a number from ``low`` to ``high`` (``whole``: an integer; unset:
    ``default``), else BadSetting."""
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high or (whole and value != int(value)):  # NaN and inf fail too
        raise BadSetting(f"{name}={raw!r}: should be {what}")
    return value


def _url(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    """``name`` as an http(s) URL (unset: ``default``), else BadSetting."""
    raw = _raw(env, name)
    if raw is None:
        return default
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadSetting(f"{name}={raw!r}: should be an http:// or https:// URL")
    return raw


# -- every variable, parsed once ----------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Every variable the console reads, parsed (:func:`load`): the one object the accessors
    below answer from. A variable holding what it cannot is named in ``problems`` (one line
    each) and its default used instead: the CLI refuses to start on the first
    (:func:`check_all`), the dashboard's Health page lists them all."""

    db: str | None = None  # OFFLOAD_CONSOLE_DB
    data_home: str | None = None  # XDG_DATA_HOME
    user: str | None = None  # USER
    mode: str | None = None  # OFFLOAD_CONSOLE_MODE: "sandbox" or None
    base_url: str | None = None  # OFFLOAD_BASE_URL as set (None: the local sandbox)
    api_key: str | None = None
    webhook_token: str | None = None
    public_webhook_url: str | None = None
    sidecar_port: int | None = None  # None: unset (DEFAULT_SIDECAR_PORT, or up.json's)
    up_pid: int | None = None
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    reconcile_every_s: float = DEFAULT_RECONCILE_EVERY_S
    session_lifetime_ms: int = int(DEFAULT_SESSION_HOURS * 3_600_000)
    answer_within_ms: int = DEFAULT_ANSWER_WITHIN_MS
    remind_at: float = DEFAULT_REMIND_AT / 100
    notify_urls: tuple[str, ...] = ()  # OFFLOAD_CONSOLE_NOTIFY_URLS (secrets.toml: added)
    escalate_urls: tuple[str, ...] = ()
    notify_digest_s: float = 0.0
    notify_retry_s: float = DEFAULT_NOTIFY_RETRY_S
    notify_recover_s: float = DEFAULT_NOTIFY_RECOVER_S
    dashboard_url: str = DEFAULT_DASHBOARD_URL
    apprise_log_level: str = "WARNING"
    allowed_emails: frozenset[str] = frozenset()
    operator: str | None = None
    spool_mb: float | None = None  # None: by the engine (DEFAULT_SPOOL_MB on PostgreSQL)
    spool_path: str | None = None
    no_uvloop: bool = False
    answer_mailbox: str | None = None  # OFFLOAD_CONSOLE_ANSWER_MAILBOX (a secret: its password)
    answer_address: str | None = None  # OFFLOAD_CONSOLE_ANSWER_ADDRESS
    answer_require_auth: bool = False  # OFFLOAD_CONSOLE_ANSWER_REQUIRE_AUTH
    answer_authserv_id: str | None = None  # OFFLOAD_CONSOLE_ANSWER_AUTHSERV_ID
    auto_assign: bool = False  # OFFLOAD_CONSOLE_AUTO_ASSIGN
    auto_assign_cap: int = 10  # OFFLOAD_CONSOLE_AUTO_ASSIGN_CAP
    problems: tuple[str, ...] = ()


class _Number(NamedTuple):
    """A numeric variable: its name, its range, what it should be (for the error)."""

    variable: str
    low: float
    high: float
    what: str
    whole: bool = False


_SECONDS = "seconds from 0.1 to 86400, e.g. {}"
_NUMBERS = {  # Settings field: its variable
    "sidecar_port": _Number(
        "OFFLOAD_CONSOLE_SIDECAR_PORT", 1, 65535, "a port number from 1 to 65535", whole=True
    ),
    "busy_timeout_ms": _Number(
        "OFFLOAD_CONSOLE_BUSY_TIMEOUT_MS",
        0,
        3_600_000,
        "milliseconds from 0 to 3600000, e.g. 5000",
        whole=True,
    ),
    "request_timeout_s": _Number(
        "OFFLOAD_CONSOLE_REQUEST_TIMEOUT_S", 0.1, 3600, "seconds from 0.1 to 3600, e.g. 10"
    ),
    "reconcile_every_s": _Number(
        "OFFLOAD_RECONCILE_EVERY_S", 0, 86_400, "seconds from 0 (off) to 86400, e.g. 30"
    ),
    "notify_digest_s": _Number(
        "OFFLOAD_CONSOLE_NOTIFY_DIGEST_S", 0, 86_400, "seconds from 0 (one message each) to 86400"
    ),
    "notify_retry_s": _Number("OFFLOAD_CONSOLE_NOTIFY_RETRY_S", 0.1, 86_400, _SECONDS.format(10)),
    "notify_recover_s": _Number(
        "OFFLOAD_CONSOLE_NOTIFY_RECOVER_S", 0.1, 86_400, _SECONDS.format(15)
    ),
    "auto_assign_cap": _Number(
        "OFFLOAD_CONSOLE_AUTO_ASSIGN_CAP",
        1,
        10_000,
        "open questions per operator, a whole number from 1 to 10000, e.g. 10",
        whole=True,
    ),
    "spool_mb": _Number(
        "OFFLOAD_CONSOLE_SPOOL_MB", 0, 1_000_000, "a size in MiB, 0 to turn the spool off"
    ),
}


def load(env: Mapping[str, str]) -> Settings:
    """Parse every variable in ``env`` into :class:`Settings` (defaults written once, there)."""
    problems: list[str] = []
    defaults = Settings()

    def parsed(field: str, parse):
        try:
            return parse()
        except BadSetting as exc:
            problems.append(str(exc))
            return getattr(defaults, field)

    def number(field: str):
        spec = _NUMBERS[field]
        value = _number(
            env,
            spec.variable,
            getattr(defaults, field),
            low=spec.low,
            high=spec.high,
            what=spec.what,
            whole=spec.whole,
        )
        return int(value) if spec.whole and value is not None else value

    up_pid = _raw(env, "OFFLOAD_CONSOLE_UP_PID") or ""
    values = {field: parsed(field, lambda field=field: number(field)) for field in _NUMBERS}
    values |= {
        "db": _raw(env, "OFFLOAD_CONSOLE_DB"),
        "data_home": _raw(env, "XDG_DATA_HOME"),
        "user": _raw(env, "USER"),
        "mode": parsed("mode", lambda: _mode(env)),
        "base_url": parsed("base_url", lambda: _url(env, "OFFLOAD_BASE_URL")),
        "api_key": _raw(env, "OFFLOAD_API_KEY"),
        "webhook_token": _raw(env, "OFFLOAD_WEBHOOK_TOKEN"),
        "public_webhook_url": parsed(
            "public_webhook_url", lambda: _url(env, "OFFLOAD_PUBLIC_WEBHOOK_URL")
        ),
        "up_pid": int(up_pid) if up_pid.isdigit() else None,
        "session_lifetime_ms": parsed("session_lifetime_ms", lambda: _session_ms(env)),
        "answer_within_ms": parsed("answer_within_ms", lambda: _answer_within(env)),
        "remind_at": parsed("remind_at", lambda: _remind_at(env)),
        "notify_urls": tuple((_raw(env, "OFFLOAD_CONSOLE_NOTIFY_URLS") or "").split()),
        "escalate_urls": tuple((_raw(env, "OFFLOAD_CONSOLE_ESCALATE_URLS") or "").split()),
        "dashboard_url": parsed(
            "dashboard_url",
            lambda: _url(env, "OFFLOAD_CONSOLE_DASHBOARD_URL", DEFAULT_DASHBOARD_URL).rstrip("/"),
        ),
        "apprise_log_level": parsed("apprise_log_level", lambda: _apprise_level(env)),
        "allowed_emails": frozenset(
            e.strip().lower()
            for e in (_raw(env, "OFFLOAD_CONSOLE_ALLOWED_EMAILS") or "").split(",")
            if e.strip()
        ),
        "operator": _raw(env, "OFFLOAD_CONSOLE_OPERATOR"),
        "spool_path": _raw(env, "OFFLOAD_CONSOLE_SPOOL"),
        "no_uvloop": bool(_raw(env, "OFFLOAD_CONSOLE_NO_UVLOOP")),
        "answer_mailbox": parsed("answer_mailbox", lambda: _answer_mailbox(env)),
        "answer_address": parsed("answer_address", lambda: _answer_address(env)),
        "answer_require_auth": (_raw(env, "OFFLOAD_CONSOLE_ANSWER_REQUIRE_AUTH") or "").lower()
        in ("1", "yes", "true", "on"),
        "answer_authserv_id": _raw(env, "OFFLOAD_CONSOLE_ANSWER_AUTHSERV_ID"),
        "auto_assign": (_raw(env, "OFFLOAD_CONSOLE_AUTO_ASSIGN") or "").lower()
        in ("1", "yes", "true", "on"),
    }
    return Settings(**values, problems=tuple(problems))


def _answer_mailbox(env: Mapping[str, str]) -> str | None:
    raw = _raw(env, "OFFLOAD_CONSOLE_ANSWER_MAILBOX")
    if raw is None:
        return None
    try:
        Mailbox.from_url(raw)
    except BadMailbox as exc:  # the URL holds a password: never repeated
        raise BadSetting(f"OFFLOAD_CONSOLE_ANSWER_MAILBOX: {exc}") from exc
    if _raw(env, "OFFLOAD_CONSOLE_ANSWER_ADDRESS") is None:
        raise BadSetting(
            "OFFLOAD_CONSOLE_ANSWER_MAILBOX is set without OFFLOAD_CONSOLE_ANSWER_ADDRESS: set "
            "it to the address replies go to (answers@example.com)"
        )
    return raw


def _answer_address(env: Mapping[str, str]) -> str | None:
    raw = _raw(env, "OFFLOAD_CONSOLE_ANSWER_ADDRESS")
    if raw is None:
        return None
    local, _, domain = raw.rpartition("@")
    if (
        not local
        or "+" in local
        or not re.fullmatch(r"[A-Za-z0-9.!#$%&'*/=?^_`{|}~-]+", local)
        or (not re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", domain))
    ):
        raise BadSetting(
            f"OFFLOAD_CONSOLE_ANSWER_ADDRESS={raw!r}: should be one plain address without a "
            "+ part, e.g. answers@example.com"
        )
    return raw.lower()


def _mode(env: Mapping[str, str]) -> str | None:
    mode = _raw(env, "OFFLOAD_CONSOLE_MODE")
    if mode not in (None, "sandbox"):
        raise BadSetting(f"OFFLOAD_CONSOLE_MODE={mode!r}: should be sandbox, or unset")
    return mode


def _session_ms(env: Mapping[str, str]) -> int:
    hours = _number(
        env,
        "OFFLOAD_CONSOLE_SESSION_HOURS",
        DEFAULT_SESSION_HOURS,
        low=1 / 60,
        high=24 * 366,
        what="hours from 0.017 (a minute) to 8784 (a year), e.g. 12",
    )
    return int(hours * 3_600_000)


def _answer_within(env: Mapping[str, str]) -> int:
    raw = _raw(env, "OFFLOAD_CONSOLE_ANSWER_WITHIN") or DEFAULT_ANSWER_WITHIN
    window = parse_window_ms(raw)
    if window is None:
        raise BadSetting(
            f"OFFLOAD_CONSOLE_ANSWER_WITHIN={raw!r}: should be a duration, e.g. 90m, 4h or 2d"
        )
    return window


def _remind_at(env: Mapping[str, str]) -> float:
    raw = _raw(env, "OFFLOAD_CONSOLE_REMIND_AT") or str(DEFAULT_REMIND_AT)
    try:
        share = float(raw.rstrip("%"))
    except ValueError:
        share = -1
    if not 0 <= share < 100:
        raise BadSetting(
            f"OFFLOAD_CONSOLE_REMIND_AT={raw!r}: should be a share of the answer window, a "
            "percentage from 0 (no reminders) to 99, e.g. 75"
        )
    return share / 100


def _apprise_level(env: Mapping[str, str]) -> str:
    raw = _raw(env, "OFFLOAD_CONSOLE_APPRISE_LOG_LEVEL")
    level = (raw or "WARNING").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise BadSetting(
            f"OFFLOAD_CONSOLE_APPRISE_LOG_LEVEL={raw!r}:"
            " should be DEBUG, INFO, WARNING, ERROR or CRITICAL"
        )
    return level


# The variables a Settings is parsed from: it is parsed again only when one of them changes
# (in a running console, never; in the tests, when one sets a variable).
_READ = re.compile(r"OFFLOAD_|XDG_DATA_HOME$|USER$")
_loaded: tuple[tuple, Settings] | None = None


def current() -> Settings:
    """This process's settings, parsed once from its environment."""
    global _loaded
    key = tuple(sorted(item for item in os.environ.items() if _READ.match(item[0])))
    if _loaded is None or _loaded[0] != key:
        _loaded = (key, load(os.environ))
    return _loaded[1]


def check_all() -> Settings:
    """Every variable parsed now; BadSetting names the first that holds what it cannot (the
    CLI runs this before any command: ``dashboard`` and ``up`` too, before Streamlit starts)."""
    parsed = current()
    if parsed.problems:
        raise BadSetting(parsed.problems[0])
    return parsed


# -- bind rules -----------------------------------------------------------------------------

MIN_TOKEN_LENGTH = 32


class RefuseToStart(SystemExit):
    pass


def check_bind(host: str, token: str | None) -> None:
    """The sidecar may listen on a reachable address only behind a long secret webhook path."""
    if not is_loopback(host) and len(token or "") < MIN_TOKEN_LENGTH:
        raise RefuseToStart(
            f"refusing to listen on {host} without a secret webhook path of at least "
            f"{MIN_TOKEN_LENGTH} characters: Offload cannot sign "
            "its webhooks, so on a reachable address the URL itself must be unguessable. Set "
            "OFFLOAD_WEBHOOK_TOKEN to a long random string (e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`) and give Offload "
            "<public URL>/webhooks/offload/<token>."
        )


# -- the database -----------------------------------------------------------------------------


def data_dir() -> Path:
    """The console's per-user folder: ``$XDG_DATA_HOME/offload-console``, by default
    ``~/.local/share/offload-console``. The default database lives there, so every command
    finds the same one from whichever folder it runs."""
    base = current().data_home
    return (Path(base) if base else Path.home() / ".local" / "share") / "offload-console"


def default_db_path() -> str:
    return str(data_dir() / DEFAULT_DB_NAME)


def db_choice(explicit: str | os.PathLike | None = None) -> tuple[str, str]:
    """The database every command uses, and why (for messages): ``--db``, then
    ``OFFLOAD_CONSOLE_DB``, then the database of the console running for this user, then
    :func:`default_db_path`. Always an absolute path."""
    if explicit:  # click hands OFFLOAD_CONSOLE_DB over as --db
        return _absolute(explicit), "--db or OFFLOAD_CONSOLE_DB"
    if current().db:
        return _absolute(current().db), "OFFLOAD_CONSOLE_DB"
    running = run_files.read_current(data_dir())
    if running:
        return running, "the running console's database"
    return default_db_path(), "the default"


def _absolute(db: str | os.PathLike) -> str:
    """A SQLite path made absolute; a ``postgresql://`` URL as it is."""
    return str(db) if is_postgresql(str(db)) else str(Path(db).resolve())


def db_label(db: str) -> str:
    """The database as messages and logs show it: a PostgreSQL URL without its password."""
    return redacted(db) if is_postgresql(db) else db


def cannot_open(db: str, problem: object) -> str:
    """The message for a database that cannot be opened: named without its password, and
    the problem (a driver's message may quote the URL) with every form of it masked."""
    return f"cannot open the database {db_label(db)}: {masked(str(problem), db)}"


def db_path(explicit: str | os.PathLike | None = None) -> str:
    """The database's path by :func:`db_choice`'s rule."""
    return db_choice(explicit)[0]


LEGACY_DB_PATH = (
    Path("data") / DEFAULT_DB_NAME
)  # the default of earlier versions: beside the caller


class NoDatabase(Exception):
    pass


def _db_passwords() -> tuple[str, ...]:
    """The password in OFFLOAD_CONSOLE_DB (a URL's user info or ``password=``, a key=value
    conninfo's ``password=``), in every form it may be shown: masked like a key."""
    return tuple(db_passwords(current().db or ""))


def existing_db_path(explicit: str | os.PathLike | None = None) -> str:
    """For commands that read: the database by :func:`db_choice`, which must exist (they never
    create one); else :class:`NoDatabase` saying where it looked and how to start one."""
    path, why = db_choice(explicit)
    if is_postgresql(path) or Path(path).is_file():  # a server says itself if it is not there
        return path
    hint = ""
    if LEGACY_DB_PATH.is_file() and str(LEGACY_DB_PATH.resolve()) != path:
        hint = (
            f" A database of an earlier version is at {LEGACY_DB_PATH.resolve()}: "
            f"pass --db {LEGACY_DB_PATH} (or move it to {default_db_path()})."
        )
    raise NoDatabase(
        f"no database at {path} ({why}). Start the console with `offload-console up` (it "
        "creates it there), or name yours with --db PATH or OFFLOAD_CONSOLE_DB." + hint
    )


def up_pid() -> int | None:
    """``OFFLOAD_CONSOLE_UP_PID``: set by ``up`` for its children, which run under its locks."""
    return current().up_pid


def open_db(explicit: str | os.PathLike | None = None, *, any_thread: bool = False):
    """The console's database, with the busy timeout configured here."""
    return storage.open_db(db_path(explicit), busy_timeout=busy_timeout_ms(), any_thread=any_thread)


# -- Offload ------------------------------------------------------------------------------------


def is_sandbox_mode() -> bool:
    """No ``OFFLOAD_BASE_URL`` (or ``up`` started the sandbox and said so in
    ``OFFLOAD_CONSOLE_MODE=sandbox``): the console talks to its local sandbox."""
    return current().mode == "sandbox" or not current().base_url


def mode_label() -> str:
    """The Health page's "Mode" row: which Offload this console talks to, and why."""
    base = current().base_url
    if current().mode == "sandbox" and base:
        return f"sandbox at {base} (started by offload-console up)"
    if not base:
        return f"sandbox at {DEFAULT_SANDBOX_URL} (no OFFLOAD_BASE_URL)"
    return f"real Offload host at {base} (OFFLOAD_BASE_URL)"


def api_key() -> str | None:
    return current().api_key


def offload_base_url() -> str:
    return current().base_url or DEFAULT_SANDBOX_URL


def offload_client(
    *, base_url: str | None = None, key: str | None = None, **kwargs
) -> OffloadClient:
    """A client for ``base_url`` with ``key``; by default ``OFFLOAD_BASE_URL`` with
    ``OFFLOAD_API_KEY`` (the local sandbox and its key when no base URL is set)."""
    if base_url is None:
        base_url = offload_base_url()
        key = api_key()
        if not key and not current().base_url:
            key = DEFAULT_SANDBOX_API_KEY
    return OffloadClient(base_url, key or "", **kwargs)


def secret_values() -> list[str]:
    """The secrets to mask wherever text is shown or logged, longest first: the API key, the
    webhook token, each notification URL (environment and secrets.toml) and each part of one
    that may be a credential (see :func:`url_secrets`)."""
    files = tuple(
        (str(path), path.stat().st_mtime_ns) for path in _secrets_paths() if path.exists()
    )
    env = (current().api_key or "", current().webhook_token or "", *_mailbox_secrets())
    return _secret_values(env, _db_passwords(), current().notify_urls, files)


def _mailbox_secrets() -> tuple[str, ...]:
    """The answer mailbox's URL and its password, as written and decoded."""
    url = current().answer_mailbox
    if not url:
        return ()
    password = urlsplit(url).password or ""
    return (url, password, unquote(password))


@functools.lru_cache(maxsize=8)
def _secret_values(env: tuple[str, ...], passwords: tuple, urls: tuple, files: tuple) -> list[str]:
    values = [*env, *passwords]
    for url in notify_urls():
        values += [url, *url_secrets(url)]
    return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


_NOT_SECRET = re.compile(r"^(localhost|\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\])$", re.IGNORECASE)


def url_secrets(url: str) -> list[str]:
    """The parts of a notification URL that may be credentials (6+ characters): user,
    password, host, each path segment, each query value, as written and decoded. Apprise
    builds other URLs from them (a ``slack://A/B/C`` URL's tokens in
    ``https://hooks.slack.com/services/A/B/C``) and logs those, so each part is masked alone."""
    parts = urlsplit(url)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    # "host:port" may be "bot-id:token" (tgram://): every side of it is a candidate
    pieces = [user, password, hostport, *hostport.split(":"), *parts.path.split("/")]
    pieces += [value for _, value in parse_qsl(parts.query)]
    found = set()
    for piece in pieces:
        for form in (piece, unquote(piece)):
            if len(form) >= 6 and not _NOT_SECRET.match(form):
                found.add(form)
    return sorted(found)


def apprise_log_level() -> str:
    """``OFFLOAD_CONSOLE_APPRISE_LOG_LEVEL`` (default ``WARNING``): Apprise's own log lines
    carry the URLs it derives (tokens in them); below WARNING only when asked."""
    return current().apprise_log_level


def allowed_emails_variable() -> set[str]:
    """``OFFLOAD_CONSOLE_ALLOWED_EMAILS``: comma-separated, lower-cased."""
    return set(current().allowed_emails)


def child_environment(**overrides: str) -> dict[str, str]:
    """This process's environment with ``overrides``: what ``up`` gives its children."""
    return {**os.environ, **overrides}


def unix_user() -> str | None:
    """``$USER``, else the login name of this process's user (``id -un``): set in a terminal,
    often unset under cron, systemd or a container."""
    if current().user:
        return current().user
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name or None
    except KeyError:  # a uid with no account (some containers)
        return None


def webhook_token() -> str | None:
    return current().webhook_token


def sidecar_port() -> int:
    return current().sidecar_port or DEFAULT_SIDECAR_PORT


def public_webhook_url(port: int | None = None) -> str:
    """Where Offload should send this console's webhooks: ``OFFLOAD_PUBLIC_WEBHOOK_URL``, else
    the local sidecar (on ``port``, by default :func:`sidecar_port`; with the token path when
    a token is set)."""
    explicit = current().public_webhook_url
    if explicit:
        return explicit
    token = webhook_token()
    path = f"/webhooks/offload/{token}" if token else "/webhooks/offload"
    return f"http://127.0.0.1:{port or sidecar_port()}{path}"


# -- what a running `offload-console up` uses (its files: offload_console/run_files.py) ---


def local_dir(db: str) -> Path:
    """This machine's folder for a database's local files (``up.json``, the sandbox's state):
    a SQLite database's own folder; for a PostgreSQL one, a folder per database in
    :func:`data_dir`."""
    if is_postgresql(db):
        import hashlib

        key = hashlib.sha256(redacted(db).encode()).hexdigest()[:12]
        return data_dir() / "postgresql" / key
    return Path(db).parent


@dataclass(frozen=True)
class Reach:
    """Where a command talks to Offload, and where Offload's webhooks come back: the
    environment's settings, or, in sandbox mode, those of the `up` running for the database
    (:func:`reach`). Nothing is written to the environment."""

    base_url: str | None = None  # None: by the environment (offload_base_url)
    api_key: str | None = None
    sidecar_port: int | None = None  # None: by the environment (sidecar_port)

    def client(self, **kwargs) -> OffloadClient:
        return offload_client(base_url=self.base_url, key=self.api_key, **kwargs)

    def webhook_url(self) -> str:
        return public_webhook_url(self.sidecar_port)


def reach(db_path: str) -> Reach:
    """In sandbox mode (no OFFLOAD_BASE_URL), the sandbox and sidecar of the `up` running for
    ``db_path`` (its sandbox's key unless OFFLOAD_API_KEY is set; the environment's sidecar
    port wins); else the environment's."""
    up = None if current().base_url else run_files.read_up(local_dir(db_path))
    if not up:
        return Reach()
    base_url = api_key_ = None
    if up.get("sandbox_port"):
        base_url = f"http://127.0.0.1:{int(up['sandbox_port'])}"
        api_key_ = api_key() or DEFAULT_SANDBOX_API_KEY  # the key `up` gave its sandbox
    port = current().sidecar_port or int(up["sidecar_port"])
    return Reach(base_url, api_key_, port)


def busy_timeout_ms() -> int:
    """``OFFLOAD_CONSOLE_BUSY_TIMEOUT_MS``: how long a connection waits on a locked database."""
    return current().busy_timeout_ms


DEFAULT_SPOOL_MB = 256


def spool_max_bytes(db: str) -> int:
    """``OFFLOAD_CONSOLE_SPOOL_MB``: how much the sidecar's local spool may hold (bodies, in
    MiB; 0 turns it off). On by default on PostgreSQL, where a restart or a failover of the
    database is routine; off on SQLite, whose database is the sidecar's own disk (a full or
    locked database answers 503 with Retry-After there, as before)."""
    megabytes = current().spool_mb
    if megabytes is None:
        megabytes = DEFAULT_SPOOL_MB if is_postgresql(db) else 0
    return int(megabytes * 1024 * 1024)


def spool_path(db: str, port: int) -> str:
    """``OFFLOAD_CONSOLE_SPOOL``, else ``sidecar-<port>.spool`` in this machine's folder for
    the database (:func:`local_dir`): a sidecar restarted on its port finds its own spool."""
    explicit = current().spool_path
    if explicit:
        return str(Path(explicit).expanduser().resolve())
    name = f"sidecar-{port}.spool" if is_postgresql(db) else f"{Path(db).name}.sidecar-{port}.spool"
    return str(local_dir(db) / name)


def request_timeout_s() -> float:
    """How long the sidecar waits for a request's head, and for its body."""
    return current().request_timeout_s


def use_uvloop() -> bool:
    """``OFFLOAD_CONSOLE_NO_UVLOOP=1`` runs the servers on asyncio's own loop (uvloop is the
    default when installed)."""
    return not current().no_uvloop


def _secrets_paths(base: Path | None = None) -> tuple[Path, Path]:
    return (
        Path.home() / ".streamlit" / "secrets.toml",
        (base or Path.cwd()) / ".streamlit" / "secrets.toml",
    )


def read_secrets_file(base: Path | None = None) -> dict:
    """The secrets Streamlit would read: ./.streamlit/secrets.toml, then ~/.streamlit/."""
    merged: dict = {}
    for path in _secrets_paths(base):
        if path.exists():
            try:
                merged.update(tomllib.loads(path.read_text()))
            except (OSError, tomllib.TOMLDecodeError):
                continue
    return merged


# -- notifications and due times -----------------------------------------------------------


def notify_urls(secrets: dict | None = None) -> list[str]:
    """Apprise URLs: ``OFFLOAD_CONSOLE_NOTIFY_URLS`` (space-separated), then ``[console]
    notify_urls`` in secrets.toml (a list, or one space-separated string). Secrets: never
    shown or logged whole."""
    return _urls(current().notify_urls, "notify_urls", secrets)


def _urls(from_env: tuple[str, ...], key: str, secrets: dict | None) -> list[str]:
    urls = list(from_env)
    console = ((read_secrets_file() if secrets is None else secrets).get("console")) or {}
    configured = console.get(key) or []
    if isinstance(configured, str):
        configured = configured.split()
    urls += [str(url).strip() for url in configured if str(url).strip()]
    return list(dict.fromkeys(urls))


def escalate_urls() -> list[str]:
    """``OFFLOAD_CONSOLE_ESCALATE_URLS`` (space-separated Apprise URLs), then ``[console]
    escalate_urls`` in secrets.toml: where overdue questions are also announced. Secrets."""
    return _urls(current().escalate_urls, "escalate_urls", None)


def remind_at() -> float:
    """``OFFLOAD_CONSOLE_REMIND_AT``: the share of a question's window, in percent, after which
    one reminder goes (default 75; 0 switches reminders off)."""
    return current().remind_at


def notify_recover_s() -> float:
    """``OFFLOAD_CONSOLE_NOTIFY_RECOVER_S``: a failing target is tried at least this often (with
    one message), so a target that returns is found within it (default 15)."""
    return current().notify_recover_s


def dashboard_url() -> str:
    """Where notifications link to (``+ /?request=<question id>``: the Inbox, that question
    open)."""
    return current().dashboard_url


def answer_within_ms() -> int:
    """How long a question may wait before it is overdue: ``OFFLOAD_CONSOLE_ANSWER_WITHIN``
    (``90m``, ``4h``, ``2d``; default ``4h``). A case may set its own
    (``metadata.consoleAnswerWithin``)."""
    return current().answer_within_ms


def notify_digest_s() -> float:
    """``OFFLOAD_CONSOLE_NOTIFY_DIGEST_S``: new questions arriving within this many seconds
    go in one message (0, the default: one message each)."""
    return current().notify_digest_s


def notify_retry_s() -> float:
    """``OFFLOAD_CONSOLE_NOTIFY_RETRY_S``: the first retry after a target fails (default 10;
    it doubles, at most :func:`notify_recover_s` apart)."""
    return current().notify_retry_s


def session_lifetime_ms() -> int:
    """``OFFLOAD_CONSOLE_SESSION_HOURS``: how long a local-account sign-in lasts in its
    browser (default 12; reloads, new tabs and notification links stay signed in)."""
    return current().session_lifetime_ms


def reconcile_every_s() -> float:
    """``OFFLOAD_RECONCILE_EVERY_S``: seconds between reconciler passes; 0 turns it off."""
    return current().reconcile_every_s


def operator_name() -> str:
    """Who is acting, for CLI actions (the dashboard asks the operator):
    ``OFFLOAD_CONSOLE_OPERATOR``, else :func:`unix_user`, else ``uid <n>`` (a uid with no
    account name)."""
    return current().operator or unix_user() or f"uid {os.getuid()}"


# -- answering by e-mail ---------------------------------------------------------------------


def answer_mailbox():
    """``OFFLOAD_CONSOLE_ANSWER_MAILBOX`` as a ``mail_reader.Mailbox`` (None: replies are not
    read, and e-mails carry no reply address)."""
    url = current().answer_mailbox
    return Mailbox.from_url(url) if url else None


def answer_address() -> str | None:
    """``OFFLOAD_CONSOLE_ANSWER_ADDRESS``: where replies go (``answers@example.com``; each
    e-mail's reply address is ``answers+<token>@example.com``). Only with a mailbox."""
    return current().answer_address if current().answer_mailbox else None


def answer_require_auth() -> bool:
    """``OFFLOAD_CONSOLE_ANSWER_REQUIRE_AUTH=1``: a reply answers only when the receiving
    server's ``Authentication-Results`` says DMARC or DKIM passed (a fail always refuses)."""
    return current().answer_require_auth


def answer_authserv_id() -> str | None:
    """``OFFLOAD_CONSOLE_ANSWER_AUTHSERV_ID``: the receiving server's name in the
    ``Authentication-Results`` it adds (``mx.example.com``); only that server's verdict counts.
    Unset: the topmost header's."""
    return current().answer_authserv_id


def auto_assign_cap() -> int | None:
    """With ``OFFLOAD_CONSOLE_AUTO_ASSIGN=1``: each new question goes to an on-duty operator
    (round-robin), skipping those holding ``OFFLOAD_CONSOLE_AUTO_ASSIGN_CAP`` (default 10) open
    questions. None: off (the default)."""
    return current().auto_assign_cap if current().auto_assign else None
