"""Schema migrations, applied in order by every command that opens the database.

Add a migration by appending a decorated function; never edit one that has shipped. Each runs
inside the write lock taken by :func:`storage.db.apply_migrations`.
"""

from __future__ import annotations

from sqlite_utils.migrations import Migrations

migrations = Migrations("offload_console")


@migrations()
def m001_events_cases_input_requests(db):
    db.execute(
        """
        CREATE TABLE events (
            event_id     TEXT PRIMARY KEY,      -- Offload's event_id; poll_/console_ ids for ours
            case_id      TEXT NOT NULL,
            event_type   TEXT NOT NULL,         -- case.completed, case.failed, case.input_needed, ...
            timestamp    INTEGER NOT NULL,      -- Offload's timestamp (Unix ms)
            state_ts     INTEGER NOT NULL,      -- the case updatedAt this event reports (Unix ms)
            received_at  INTEGER NOT NULL,      -- when the console stored it (Unix ms)
            source       TEXT NOT NULL,         -- webhook | poll | console
            actor        TEXT,                  -- operator, for console events
            payload      TEXT NOT NULL,         -- the full raw payload, as received
            projection_error TEXT               -- set if applying it to cases failed (a bug)
        )
        """
    )
    db.execute("CREATE INDEX events_case ON events (case_id, state_ts)")
    db.execute("CREATE INDEX events_source_received ON events (source, received_at)")
    db.execute(
        """
        CREATE TABLE cases (
            case_id              TEXT PRIMARY KEY,
            status               TEXT NOT NULL,  -- CREATED RUNNING INPUT_NEEDED COMPLETED FAILED
            client_reference_id  TEXT,
            channel              TEXT,
            result_status        TEXT,
            result               TEXT,           -- JSON
            failure_reason       TEXT,
            attempt_count        INTEGER,
            max_attempts         INTEGER,
            metadata             TEXT,           -- JSON, as echoed by webhooks
            objective            TEXT,
            counterparty_name    TEXT,
            counterparty_address TEXT,
            counterparty_company TEXT,
            counterparty_timezone TEXT,
            result_schema        TEXT,           -- JSON
            request              TEXT,           -- JSON body the console sent (POST /cases)
            submission_id        TEXT,
            created_at           INTEGER,        -- Offload's createdAt, or when we sent it (ms)
            updated_at           INTEGER,        -- Offload's updatedAt of the state shown (ms)
            next_action_at       INTEGER,        -- from GET; 253402300799999 = nothing scheduled
            input_request_id     TEXT,           -- the active request the state names, if any
            input_request_status TEXT,
            state_event_id       TEXT,           -- the event whose state is shown
            state_rank           INTEGER NOT NULL DEFAULT 0,  -- 1 once terminal
            first_seen_at        INTEGER NOT NULL,
            last_event_at        INTEGER,        -- when the newest event was received (ms)
            last_polled_at       INTEGER
        )
        """
    )
    db.execute("CREATE INDEX cases_status ON cases (status, updated_at)")
    db.execute("CREATE INDEX cases_client_reference ON cases (client_reference_id)")
    db.execute(
        """
        CREATE TABLE input_requests (
            input_request_id TEXT PRIMARY KEY,
            case_id          TEXT NOT NULL,
            question         TEXT,
            status           TEXT NOT NULL,     -- PENDING ANSWERED SUPERSEDED CLOSED
            requested_at     INTEGER,           -- Offload's inputRequestedAt (ms)
            event_id         TEXT,              -- the event that revealed it
            answer           TEXT,
            answered_by      TEXT,
            answered_at      INTEGER,
            claimed_by       TEXT,
            claimed_at       INTEGER
        )
        """
    )
    db.execute("CREATE INDEX input_requests_case ON input_requests (case_id, requested_at)")
    db.execute("CREATE INDEX input_requests_status ON input_requests (status, requested_at)")
    db.execute(
        """
        CREATE TABLE rejected_deliveries (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            received_at  INTEGER NOT NULL,
            remote_addr  TEXT,
            status_code  INTEGER NOT NULL,
            reason       TEXT NOT NULL,
            body_size    INTEGER,
            body_excerpt TEXT                  -- first 1 KiB, undecodable bytes replaced
        )
        """
    )


@migrations()
def m002_submissions_and_reconciler_runs(db):
    db.execute(
        """
        CREATE TABLE submissions (
            submission_id TEXT PRIMARY KEY,     -- also sent as metadata.consoleSubmissionId
            status        TEXT NOT NULL,        -- PENDING SENT FAILED UNKNOWN
            request       TEXT NOT NULL,        -- JSON body sent to POST /cases
            created_by    TEXT,
            created_at    INTEGER NOT NULL,
            updated_at    INTEGER NOT NULL,
            case_id       TEXT,
            error_status  INTEGER,
            error_code    TEXT,
            error_message TEXT
        )
        """
    )
    db.execute("CREATE INDEX submissions_status ON submissions (status, created_at)")
    db.execute(
        """
        CREATE TABLE reconciler_runs (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at   INTEGER NOT NULL,
            finished_at  INTEGER,
            polled       INTEGER NOT NULL DEFAULT 0,
            changed      INTEGER NOT NULL DEFAULT 0,  -- cases whose state a poll repaired
            errors       INTEGER NOT NULL DEFAULT 0,
            error_sample TEXT
        )
        """
    )
    db.execute("CREATE INDEX cases_last_event ON cases (last_event_at)")


@migrations()
def m003_constraints_snippets_and_list_indexes(db):
    db.execute("ALTER TABLE cases ADD COLUMN constraints TEXT")  # JSON array, as asked
    db.execute(
        """
        CREATE TABLE reply_snippets (
            name       TEXT PRIMARY KEY,
            text       TEXT NOT NULL,
            created_by TEXT,
            created_at INTEGER NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX cases_created ON cases (created_at)")


@migrations()
def m004_case_templates(db):
    db.execute(
        """
        CREATE TABLE case_templates (
            name       TEXT PRIMARY KEY,
            body       TEXT NOT NULL,               -- JSON case body, may hold {{placeholders}}
            created_by TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        )
        """
    )


@migrations()
def m005_operators_and_audit_log(db):
    db.execute(
        """
        CREATE TABLE operators (
            name          TEXT PRIMARY KEY,
            password_hash TEXT NOT NULL,           -- argon2id
            created_at    INTEGER NOT NULL,
            created_by    TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE audit_log (
            id       INTEGER PRIMARY KEY AUTOINCREMENT,
            at       INTEGER NOT NULL,
            operator TEXT,
            action   TEXT NOT NULL,   -- case.sent answer.sent template.saved export.made ...
            case_id  TEXT,
            target   TEXT,            -- what the action was about (submission, template, ...)
            detail   TEXT             -- JSON
        )
        """
    )
    db.execute("CREATE INDEX audit_log_case ON audit_log (case_id, at)")
    db.execute("CREATE INDEX audit_log_at ON audit_log (at)")


SEARCH_COLUMNS = (
    "case_id",
    "client_reference_id",
    "counterparty_name",
    "counterparty_address",
    "counterparty_company",
    "objective",
)


@migrations()
def m006_scale_indexes_counts_and_search(db):
    """What keeps the Cases page as fast at 100k cases as at 1k (bench/pages_bench.py)."""
    # Status filter + newest-first paging without a sort.
    db.execute("CREATE INDEX cases_status_created ON cases (status, created_at)")
    # Per-status counts kept by triggers: the counts row of the Cases page without a scan.
    db.execute("CREATE TABLE case_status_counts (status TEXT PRIMARY KEY, cases INTEGER NOT NULL)")
    db.execute("INSERT INTO case_status_counts SELECT status, count(*) FROM cases GROUP BY status")
    bump = (
        "INSERT INTO case_status_counts (status, cases) VALUES ({status}, {delta})"
        " ON CONFLICT (status) DO UPDATE SET cases = cases + {delta};"
    )
    db.execute(
        "CREATE TRIGGER cases_count_insert AFTER INSERT ON cases BEGIN "
        + bump.format(status="NEW.status", delta=1)
        + " END"
    )
    db.execute(
        "CREATE TRIGGER cases_count_update AFTER UPDATE OF status ON cases"
        " WHEN OLD.status IS NOT NEW.status BEGIN "
        + bump.format(status="OLD.status", delta=-1)
        + bump.format(status="NEW.status", delta=1)
        + " END"
    )
    db.execute(
        "CREATE TRIGGER cases_count_delete AFTER DELETE ON cases BEGIN "
        + bump.format(status="OLD.status", delta=-1)
        + " END"
    )
    # Substring search over reference, counterparty and objective: a trigram FTS5 index.
    columns = ", ".join(SEARCH_COLUMNS)
    new_values = ", ".join(f"NEW.{c}" for c in SEARCH_COLUMNS)
    old_values = ", ".join(f"OLD.{c}" for c in SEARCH_COLUMNS)
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in SEARCH_COLUMNS)
    db.execute(
        f"CREATE VIRTUAL TABLE cases_search USING fts5({columns}, content='cases',"
        " content_rowid='rowid', tokenize='trigram')"
    )
    db.execute("INSERT INTO cases_search (cases_search) VALUES ('rebuild')")
    db.execute(
        "CREATE TRIGGER cases_search_insert AFTER INSERT ON cases BEGIN"
        f" INSERT INTO cases_search (rowid, {columns}) VALUES (NEW.rowid, {new_values}); END"
    )
    db.execute(
        "CREATE TRIGGER cases_search_delete AFTER DELETE ON cases BEGIN"
        f" INSERT INTO cases_search (cases_search, rowid, {columns})"
        f" VALUES ('delete', OLD.rowid, {old_values}); END"
    )
    db.execute(
        f"CREATE TRIGGER cases_search_update AFTER UPDATE ON cases WHEN {changed} BEGIN"
        f" INSERT INTO cases_search (cases_search, rowid, {columns})"
        f" VALUES ('delete', OLD.rowid, {old_values});"
        f" INSERT INTO cases_search (rowid, {columns}) VALUES (NEW.rowid, {new_values}); END"
    )


@migrations()
def m007_search_index_off_the_ingest_path(db):
    """Indexing a case for search in the same transaction as its webhook doubled the sidecar's
    cost per new case (an FTS5 insert per row). Now the triggers only note which cases changed
    (``search_pending``); ``storage.page_queries.refresh_search_index`` indexes them in bulk, before a
    search and on every reconciler pass."""
    for trigger in ("cases_search_insert", "cases_search_update", "cases_search_delete"):
        db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    db.execute("DROP TABLE IF EXISTS cases_search")
    columns = ", ".join(SEARCH_COLUMNS)
    db.execute(f"CREATE VIRTUAL TABLE cases_search USING fts5({columns}, tokenize='trigram')")
    db.execute(f"INSERT INTO cases_search (rowid, {columns}) SELECT rowid, {columns} FROM cases")
    db.execute("CREATE TABLE search_pending (case_rowid INTEGER PRIMARY KEY)")
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in SEARCH_COLUMNS)
    note = "INSERT OR IGNORE INTO search_pending (case_rowid) VALUES ({}.rowid);"
    db.execute(
        f"CREATE TRIGGER cases_search_insert AFTER INSERT ON cases BEGIN {note.format('NEW')} END"
    )
    db.execute(
        f"CREATE TRIGGER cases_search_update AFTER UPDATE ON cases WHEN {changed}"
        f" BEGIN {note.format('NEW')} END"
    )
    db.execute(
        f"CREATE TRIGGER cases_search_delete AFTER DELETE ON cases BEGIN {note.format('OLD')} END"
    )


@migrations()
def m008_case_inserts_without_triggers(db):
    """An AFTER INSERT trigger on ``cases`` made every insert of a new case about three times
    dearer (SQLite then re-seeks each of the table's indexes), and new cases arrive with the
    sidecar's webhooks. The only code that inserts cases, ``storage.events``, now bumps
    ``case_status_counts`` and notes ``search_pending`` itself; the UPDATE and DELETE triggers
    stay, so edits made by hand are still counted and re-indexed."""
    db.execute("DROP TRIGGER IF EXISTS cases_count_insert")
    db.execute("DROP TRIGGER IF EXISTS cases_search_insert")


@migrations()
def m009_claims_belong_to_a_browser_session(db):
    """A claim is held by one browser session (``claim_token``), not by a name: the same
    operator in two tabs must not send two answers."""
    db.execute("ALTER TABLE input_requests ADD COLUMN claim_token TEXT")


NOW_MS = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"


def queue_new_question(now_ms: str) -> str:
    """What the ``input_requests_notify`` trigger does on both engines (since m013; m010's
    first version, without roles, is kept as it ran): a new PENDING question queues one
    ``question.new`` notification per active notify target, never twice."""
    return (
        "INSERT INTO notifications (notification_id, kind, input_request_id, case_id,"
        " target_id, created_at, next_attempt_at)"
        " SELECT 'ntf_new_' || NEW.input_request_id || '_' || target_id, 'question.new',"
        f" NEW.input_request_id, NEW.case_id, target_id, {now_ms}, {now_ms}"
        " FROM notify_targets WHERE active = 1 AND role = 'notify'"
        " ON CONFLICT DO NOTHING"
    )


@migrations()
def m010_notifications_due_times_assignment(db):
    """Notifications about questions: an outbox the sidecar sends, one row per (question,
    kind, target), the ``question.new`` ones written by a trigger in the very transaction that
    records the question. Due times: a case's own answer window (``metadata.consoleAnswerWithin``).
    Assignment. And ``inbox_version``, a counter an open Inbox polls to notice changes."""
    db.execute("ALTER TABLE cases ADD COLUMN answer_within_ms INTEGER")
    db.execute("ALTER TABLE input_requests ADD COLUMN assigned_to TEXT")
    db.execute("ALTER TABLE operators ADD COLUMN email TEXT")
    db.execute(
        """
        CREATE TABLE notify_targets (
            target_id       TEXT PRIMARY KEY,   -- a hash of the Apprise URL (never stored)
            label           TEXT NOT NULL,      -- its scheme and id: safe to show
            active          INTEGER NOT NULL DEFAULT 1,  -- configured in the running sidecar
            last_success_at INTEGER,
            last_error_at   INTEGER,
            last_error      TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE notifications (
            notification_id  TEXT PRIMARY KEY,  -- ntf_<kind>_<request>_<target>: in every message
            kind             TEXT NOT NULL,     -- question.new | question.overdue | question.assigned
            input_request_id TEXT NOT NULL,
            case_id          TEXT NOT NULL,
            target_id        TEXT NOT NULL,
            recipient        TEXT,              -- question.assigned: the operator's e-mail
            status           TEXT NOT NULL DEFAULT 'PENDING',  -- PENDING SENT FAILED DROPPED
            attempts         INTEGER NOT NULL DEFAULT 0,
            created_at       INTEGER NOT NULL,
            next_attempt_at  INTEGER NOT NULL,
            sent_at          INTEGER,
            last_error       TEXT
        )
        """
    )
    db.execute("CREATE INDEX notifications_due ON notifications (status, next_attempt_at)")
    db.execute("CREATE INDEX notifications_case ON notifications (case_id)")
    db.execute(
        f"""
        CREATE TRIGGER input_requests_notify AFTER INSERT ON input_requests
        WHEN NEW.status = 'PENDING'
        BEGIN
            INSERT OR IGNORE INTO notifications (notification_id, kind, input_request_id,
                case_id, target_id, created_at, next_attempt_at)
            SELECT 'ntf_new_' || NEW.input_request_id || '_' || target_id, 'question.new',
                NEW.input_request_id, NEW.case_id, target_id, {NOW_MS}, {NOW_MS}
            FROM notify_targets WHERE active = 1;
        END
        """
    )
    db.execute("CREATE TABLE inbox_version (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER)")
    db.execute("INSERT INTO inbox_version (id, n) VALUES (1, 0)")
    bump = "UPDATE inbox_version SET n = n + 1 WHERE id = 1;"
    db.execute(
        f"CREATE TRIGGER inbox_version_insert AFTER INSERT ON input_requests BEGIN {bump} END"
    )
    db.execute(
        "CREATE TRIGGER inbox_version_update AFTER UPDATE OF status, assigned_to"
        " ON input_requests WHEN OLD.status IS NOT NEW.status"
        f" OR OLD.assigned_to IS NOT NEW.assigned_to BEGIN {bump} END"
    )


@migrations()
def m011_deliveries_log(db):
    """Every delivery the sidecar answered, stored, duplicate or refused, one row each in the
    transaction that decided it (the newest 100,000 kept): the Deliveries page and
    ``offload-console deliveries``. Refused bodies are kept up to 64 KiB (was 1 KiB)."""
    db.execute(
        """
        CREATE TABLE deliveries (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            received_at  INTEGER NOT NULL,
            outcome      TEXT NOT NULL,     -- stored | duplicate | rejected
            status_code  INTEGER NOT NULL,  -- what the sidecar answered
            event_id     TEXT,
            event_type   TEXT,
            case_id      TEXT,
            reason       TEXT,              -- why it was refused
            rejected_id  INTEGER,           -- its row in rejected_deliveries (the body)
            remote_addr  TEXT
        )
        """
    )
    db.execute("CREATE INDEX deliveries_received ON deliveries (received_at)")
    db.execute("CREATE INDEX deliveries_case ON deliveries (case_id)")


@migrations()
def m012_answers_in_flight(db):
    """An answer is written down before it is POSTed (the answer outbox): ``send_state``
    SENDING while a POST is under way (a second send of the same question waits for it instead
    of posting again), UNSETTLED when Offload's reply was lost, NULL otherwise; ``send_text``
    and ``send_by`` are what was sent and by whom, so an accepted answer the console could not
    record (database busy, process killed) is recorded later by the reconciler."""
    for column in ("send_state TEXT", "send_text TEXT", "send_by TEXT", "send_started_at INTEGER"):
        db.execute(f"ALTER TABLE input_requests ADD COLUMN {column}")
    db.execute(
        "CREATE INDEX input_requests_unsettled ON input_requests (send_state)"
        " WHERE send_state IS NOT NULL"
    )


@migrations()
def m013_targets_recover_remind_escalate(db):
    """A failing target is tried one message at a time on its own schedule (``failures``,
    ``retry_at``: NULL while it is healthy); when it accepts a message again, everything
    waiting for it goes at once. ``role``: ``notify`` targets get every kind, ``escalate``
    targets (``OFFLOAD_CONSOLE_ESCALATE_URLS``) only ``question.overdue``. New kinds:
    ``question.due_soon`` (a reminder) and ``question.waiting`` (the digest of questions that
    were already waiting when a target was switched on)."""
    db.execute("ALTER TABLE notify_targets ADD COLUMN role TEXT NOT NULL DEFAULT 'notify'")
    db.execute("ALTER TABLE notify_targets ADD COLUMN failures INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE notify_targets ADD COLUMN retry_at INTEGER")
    db.execute("DROP TRIGGER input_requests_notify")
    db.execute(
        "CREATE TRIGGER input_requests_notify AFTER INSERT ON input_requests"
        f" WHEN NEW.status = 'PENDING' BEGIN {queue_new_question(NOW_MS)}; END"
    )
    db.execute("CREATE INDEX notifications_target ON notifications (target_id, status)")


@migrations()
def m014_sign_in_sessions(db):
    """A local-account sign-in that outlives its browser tab: the browser holds a random token
    in an HttpOnly, SameSite=Strict cookie; this table holds its hash (never the token), whose
    it is, the account's password fingerprint at sign-in, and when it expires or ended. The
    cookie is set by the dashboard's ``/auth/session`` route in exchange for a one-time
    ticket (hash kept here too) that the signed-in page hands its browser."""
    db.execute(
        """
        CREATE TABLE sign_in_sessions (
            session_id        TEXT PRIMARY KEY,  -- random, shown nowhere
            operator          TEXT NOT NULL,
            fingerprint       TEXT NOT NULL,     -- the password's, at sign-in
            ticket_hash       TEXT UNIQUE,       -- sha256 of the one-time ticket; NULL once used
            ticket_expires_at INTEGER,
            token_hash        TEXT UNIQUE,       -- sha256 of the cookie's token
            created_at        INTEGER NOT NULL,
            expires_at        INTEGER NOT NULL,
            ended_at          INTEGER,
            ended_why         TEXT               -- signed out | account changed | expired
        )
        """
    )


INSTANCES_TABLE = """
CREATE TABLE instances (
    instance_id  TEXT PRIMARY KEY,      -- <host>:<pid>:<started_at>
    part         TEXT NOT NULL,         -- sidecar | dashboard
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    port         INTEGER,
    version      TEXT,
    started_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,      -- every HEARTBEAT_S while it runs
    stopped_at   INTEGER                -- set by a clean stop; NULL: running, or killed
)
"""


@migrations()
def m015_instances(db):
    """The console processes using this database, each registered at start and seen again
    every few seconds (``storage.instances``): the Health page lists them. On SQLite there is
    one console (its lock); on PostgreSQL, as many as run."""
    db.execute(INSTANCES_TABLE)


# The overdue count every page shows joins each waiting question to its case: both sides from
# an index that holds every column it reads (100k cases, 2,000 waiting: 10 ms to 1.7 ms).
WAITING_INDEXES = """
CREATE INDEX input_requests_waiting ON input_requests (status, requested_at, case_id);
DROP INDEX input_requests_status;
CREATE INDEX cases_answer_within ON cases (case_id, answer_within_ms);
"""


# SQLite's planner statistics (``sqlite_stat1``), from a sample of 400 rows per index: a few
# milliseconds at 100k cases. Run by m016 and, hourly, by ``storage.db.refresh_statistics``.
ANALYZE_SAMPLED = ("PRAGMA analysis_limit = 400", "ANALYZE")


@migrations()
def m016_waiting_indexes(db):
    """Covering indexes for the waiting questions' due times (``WAITING_INDEXES``), and the
    statistics without which SQLite's planner would not use the one on ``cases``."""
    for statement in [*WAITING_INDEXES.split(";"), *ANALYZE_SAMPLED]:
        if statement.strip():
            db.execute(statement)


# Beyond one box (the database is no single point of loss): what a sidecar acknowledged is
# projected apart (``projection_queue``, PostgreSQL's sidecars; SQLite projects in the same
# commit); a delivery forwarded from a sidecar's local spool is logged once by its key; each
# instance says which notification targets it has and how it sees things (``status``: the
# database as it sees it, its spool).
RESILIENCE_TABLES = """
CREATE TABLE projection_queue (
    event_id    TEXT PRIMARY KEY,       -- an event stored, not yet applied to cases
    queued_at   INTEGER NOT NULL
);
ALTER TABLE deliveries ADD COLUMN delivery_key TEXT;
CREATE UNIQUE INDEX deliveries_key ON deliveries (delivery_key);
ALTER TABLE instances ADD COLUMN status TEXT;
CREATE TABLE instance_targets (
    instance_id TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    PRIMARY KEY (instance_id, target_id)
);
"""


def execute_each(db, script: str) -> None:
    """Run each ``;``-separated statement of ``script`` (one call runs one statement)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


@migrations()
def m017_resilience(db):
    """``RESILIENCE_TABLES``."""
    execute_each(db, RESILIENCE_TABLES)


# A team answering together: which question each open Inbox has up and when its operator
# last typed an answer to it (a row per browser session, refreshed every few seconds while the
# page is open; a row not refreshed for ``storage.presence.PRESENT_MS`` is gone), and each
# operator's unsent answer to a question, so a reload or another answer never loses it.
PRESENCE_TABLES = """
CREATE TABLE presence (
    session_id       TEXT PRIMARY KEY,
    operator         TEXT NOT NULL,
    input_request_id TEXT,
    typing_at        INTEGER,
    seen_at          INTEGER NOT NULL
);
CREATE INDEX presence_seen ON presence (seen_at);
CREATE TABLE drafts (
    operator         TEXT NOT NULL,
    input_request_id TEXT NOT NULL,
    text             TEXT NOT NULL,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (operator, input_request_id)
);
"""


@migrations()
def m018_presence_and_drafts(db):
    """``PRESENCE_TABLES``."""
    execute_each(db, PRESENCE_TABLES)


@migrations()
def m019_unreadable_results_have_their_own_shape(db):
    """PostgreSQL only (``storage.pg_schema.RESULT_SHAPE_OF_UNREADABLE``): SQLite reads every
    stored result; kept here so both engines list the same migrations."""


# Answering by e-mail (``offload_console.mail_answers``): a reply token per e-mail about a
# question sent to an operator (only its hash is kept: the database gives no one a way to
# answer), each message read from the answer mailbox (its outcome, and the confirmation or
# refusal mailed back: an outbox of its own), and how each answer went (``answered_via``).
MAIL_ANSWER_TABLES = """
CREATE TABLE reply_tokens (
    token_hash       TEXT PRIMARY KEY,
    input_request_id TEXT NOT NULL,
    operator         TEXT NOT NULL,
    address          TEXT NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE INDEX reply_tokens_request ON reply_tokens (input_request_id);
CREATE TABLE mail_replies (
    message_key      TEXT PRIMARY KEY,
    message_id       TEXT,
    sender           TEXT,
    received_at      INTEGER NOT NULL,
    input_request_id TEXT,
    operator         TEXT,
    outcome          TEXT,
    reason           TEXT,
    answer           TEXT,
    handled_at       INTEGER,
    reply_to         TEXT,
    reply_subject    TEXT,
    reply_body       TEXT,
    reply_status     TEXT NOT NULL DEFAULT 'NONE',
    reply_attempts   INTEGER NOT NULL DEFAULT 0,
    reply_error      TEXT,
    replied_at       INTEGER
);
CREATE INDEX mail_replies_outbox ON mail_replies (reply_status);
ALTER TABLE input_requests ADD COLUMN answered_via TEXT
"""


@migrations()
def m020_answers_by_mail(db):
    """``MAIL_ANSWER_TABLES``."""
    execute_each(db, MAIL_ANSWER_TABLES)


# The Reports page reads a period's questions by when they were asked and when answered.
REPORT_INDEXES = """
CREATE INDEX input_requests_asked ON input_requests (requested_at);
CREATE INDEX input_requests_answered ON input_requests (answered_at)
"""


@migrations()
def m021_report_indexes(db):
    """``REPORT_INDEXES``."""
    execute_each(db, REPORT_INDEXES)


# Roles and routing: each local account's role (``viewer``, ``operator``, ``admin``); who is
# on duty (a row per operator on duty, local or OIDC, with when they were last given a question
# by the router); when the router handled a question (it never routes one twice, so a question
# a person unassigns stays unassigned).
ROLES_AND_ROUTING = """
ALTER TABLE operators ADD COLUMN role TEXT NOT NULL DEFAULT 'operator';
CREATE TABLE duty (
    operator         TEXT PRIMARY KEY,
    since            INTEGER NOT NULL,
    last_assigned_at INTEGER
);
ALTER TABLE input_requests ADD COLUMN routed_at INTEGER
"""


@migrations()
def m022_roles_and_routing(db):
    """``ROLES_AND_ROUTING``."""
    execute_each(db, ROLES_AND_ROUTING)
