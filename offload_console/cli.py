"""The ``offload-console`` command (click): one decorated function per command.

Options that an environment variable can set say so in ``--help`` (``envvar=``); every
variable is read through :mod:`offload_console.settings`. Each command's help ends with an
example that ``tests/test_cli.py`` runs.
"""

from __future__ import annotations

import json
import os
import sys

import click

from offload_client.text import printable
from offload_console import __version__, instance, settings
from storage.deliveries import OUTCOMES

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
LOG_LEVELS = click.Choice(["debug", "info", "warning", "error"], case_sensitive=False)


def db_option(fn):
    """``--db``, shared by every command that opens the database."""
    return click.option(
        "--db",
        envvar="OFFLOAD_CONSOLE_DB",
        show_envvar=True,
        type=click.Path(dir_okay=False),
        help="SQLite file or postgresql:// URL  [default: the database of the console running for this user, else "
        "$XDG_DATA_HOME/offload-console/offload-console.db (~/.local/share/…)]",
    )(fn)


def example(text: str) -> str:
    """The epilog every command ends with (``\b``: click keeps the line as written)."""
    return f"\b\nExample:\n  {text}"


class CommandFailed(click.ClickException):
    """A command that cannot do its work: ``offload-console COMMAND: message`` on stderr and
    exit status ``code`` (2 for a usage or setup problem, 1 when the work itself failed)."""

    def __init__(self, command: str, message: str, code: int = 2):
        super().__init__(message)
        self.command = command
        self.exit_code = code

    def show(self, file=None) -> None:
        click.echo(f"offload-console {self.command}: {self.format_message()}", err=True)


def fail(command: str, message: str, code: int = 2):
    raise CommandFailed(command, message, code)


def host_option(default: str = "127.0.0.1"):
    return click.option("--host", default=default, show_default=True, help="address to bind")


def port_option(default: int, **kwargs):
    return click.option(
        "--port", type=int, default=default, show_default=True, help="port to listen on", **kwargs
    )


def open_database(db: str | None, *, create: bool = False):
    """The database by the one rule (``settings.db_choice``). Only the commands that run the
    console (and ``operators add``) may ``create`` it: the others say where they looked."""
    from storage import StorageError

    command = " ".join(click.get_current_context().command_path.split()[1:])
    try:
        path = settings.db_path(db) if create else settings.existing_db_path(db)
        return settings.open_db(path)
    except settings.NoDatabase as exc:
        fail(command, str(exc))
    except (OSError, StorageError) as exc:
        fail(command, settings.cannot_open(settings.db_path(db), exc))


def reach(db: str | None) -> settings.Reach:
    """Offload and the sidecar for this database: in sandbox mode, those of the `up` running
    for it."""
    return settings.reach(settings.db_path(db))


def claim(command: str, db_path: str, parts: tuple[str, ...], ports: dict) -> instance.Held:
    """This long-running command's locks on its database (see ``offload_console.instance``),
    or exit with who holds them. A child of ``up`` runs under ``up``'s locks."""
    up = settings.up_pid()
    if up is not None and up == os.getppid():
        if all((instance.holder(db_path, part) or {}).get("pid") == up for part in parts):
            return instance.Held()
    try:
        return instance.hold([(db_path, part) for part in parts], command=command, ports=ports)
    except instance.AlreadyRunning as exc:
        fail(command, str(exc))
    except OSError as exc:  # its folder cannot be made or written
        fail(command, settings.cannot_open(db_path, f"its lock file: {exc}"))


@click.group(context_settings=CONTEXT, epilog=example("offload-console up"))
@click.version_option(__version__, prog_name="offload-console")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Operator console for Offload."""
    try:  # every variable, before any command: a bad one is one line and exit 2
        settings.check_all()
    except settings.BadSetting as exc:
        fail(ctx.invoked_subcommand or "", str(exc))


@cli.command(epilog=example("offload-console up"))
@db_option
@click.option(
    "--sidecar-port",
    type=int,
    default=settings.DEFAULT_SIDECAR_PORT,
    envvar="OFFLOAD_CONSOLE_SIDECAR_PORT",
    show_envvar=True,
    show_default=True,
    help="the sidecar's port",
)
@click.option(
    "--sandbox-port",
    type=int,
    default=settings.DEFAULT_SANDBOX_PORT,
    show_default=True,
    help="the sandbox's port (sandbox mode only)",
)
@click.option(
    "--dashboard-port",
    type=int,
    default=settings.DEFAULT_DASHBOARD_PORT,
    show_default=True,
    help="the dashboard's port",
)
@click.option(
    "--hour-seconds",
    type=float,
    default=1.0,
    show_default=True,
    help="sandbox clock: real seconds per Offload hour",
)
@click.option(
    "--seed-demo",
    type=click.Choice(["ask", "yes", "no"]),
    default="ask",
    show_default=True,
    help="seed demo cases on a first start in sandbox mode",
)
def up(**options) -> None:
    """Start everything: the sidecar (with its reconciler), the dashboard and, when
    OFFLOAD_BASE_URL is unset, the local sandbox wired to both."""
    from offload_console.supervisor import UpOptions, run_up

    sys.exit(run_up(UpOptions(**options)))


@cli.command(
    epilog=example(
        "OFFLOAD_WEBHOOK_TOKEN=$(openssl rand -hex 24) offload-console sidecar --port 8787"
    )
)
@host_option(settings.DEFAULT_SIDECAR_HOST)
@port_option(settings.DEFAULT_SIDECAR_PORT, envvar="OFFLOAD_CONSOLE_SIDECAR_PORT", show_envvar=True)
@click.option(
    "--reconcile-every",
    type=float,
    default=settings.DEFAULT_RECONCILE_EVERY_S,
    envvar="OFFLOAD_RECONCILE_EVERY_S",
    show_envvar=True,
    show_default=True,
    help="seconds between reconciler passes; 0 turns it off",
)
@click.option("--log-level", type=LOG_LEVELS, default="info", show_default=True)
@db_option
def sidecar(host: str, port: int, reconcile_every: float, log_level: str, db: str | None) -> None:
    """Receive Offload's webhooks and store them durably; reconcile open cases from
    GET /cases/{id} every N seconds (set OFFLOAD_WEBHOOK_TOKEN before listening beyond
    loopback)."""
    from offload_console import sidecar_run

    try:
        settings.check_bind(host, settings.webhook_token())
    except settings.RefuseToStart as exc:
        fail("sidecar", str(exc))
    db_path = settings.db_path(db)
    held = claim("sidecar", db_path, ("sidecar",), {"sidecar": port})
    opts = sidecar_run.options(host, port, db_path, reconcile_every, log_level)  # checked
    try:
        sidecar_run.run(opts, names_the_database=bool(held.fds))
    except sidecar_run.CannotStart as exc:
        fail("sidecar", str(exc))


@cli.command(
    epilog=example("offload-console sandbox --port 8788 --hour-seconds 0.01 --drop-webhooks 0.3")
)
@host_option()
@port_option(settings.DEFAULT_SANDBOX_PORT)
@click.option(
    "--api-key",
    envvar="OFFLOAD_API_KEY",
    show_envvar=True,
    help="the x-api-key it accepts  [default: the sandbox's own key]",
)
@click.option(
    "--hour-seconds",
    type=float,
    default=1.0,
    show_default=True,
    help="real seconds per Offload hour (0.01 ends every scenario within 10 s)",
)
@click.option(
    "--drop-webhooks",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    help="fraction of webhooks silently not sent",
)
@click.option(
    "--state",
    type=click.Path(dir_okay=False),
    help="JSON file that keeps the sandbox's cases across restarts (`up` uses "
    "sandbox-state.json beside the database)  [default: memory only]",
)
@click.option(
    "--answer-delay",
    type=click.FloatRange(0.0, 60.0),
    default=0.0,
    show_default=True,
    envvar="OFFLOAD_SANDBOX_ANSWER_DELAY_S",
    show_envvar=True,
    help="seconds each POST /cases/{id}/input waits before it is handled (a slow Offload)",
)
@click.option("--log-level", type=LOG_LEVELS, default="info", show_default=True)
def sandbox(
    host, port, api_key, hour_seconds, drop_webhooks, state, answer_delay, log_level
) -> None:
    """Run a local server that speaks Offload's API and sends real webhooks, with scripted
    counterparties (metadata.sandboxScenario: complete, input_needed, two_questions,
    max_retries, bounced, rejected)."""
    from offload_client import DEFAULT_SANDBOX_API_KEY
    from sandbox.app import create_app, run

    if state:  # its cases live in this file: one sandbox per file
        claim("sandbox", state, ("sandbox",), {"sandbox": port})
    click.echo(
        f"sandbox: Offload's API at http://{host}:{port} "
        f"(x-api-key from --api-key or OFFLOAD_API_KEY; one hour = {hour_seconds:g} s; "
        f"dropping {drop_webhooks:.0%} of webhooks)"
    )
    sys.stdout.flush()
    app = create_app(
        api_key or DEFAULT_SANDBOX_API_KEY,
        hour_seconds=hour_seconds,
        drop_webhooks=drop_webhooks,
        state_file=state or None,
        answer_delay_s=answer_delay,
    )
    run(app, host, port, log_level=log_level, use_uvloop=settings.use_uvloop())


@cli.command(epilog=example("offload-console create examples/w9.json --scenario input_needed"))
@click.argument("case_file", metavar="CASE_FILE")
@click.option("--scenario", help="sandbox only: sets metadata.sandboxScenario")
@db_option
def create(case_file: str, scenario: str | None, db: str | None) -> None:
    """Send a case body (JSON, as POST /cases takes it; - for stdin) through the submission
    outbox and print its caseId."""
    from offload_console.outbox import submit_case

    where = reach(db)
    try:
        with open(case_file, encoding="utf-8") if case_file != "-" else sys.stdin as f:
            body = json.load(f)
    except (OSError, ValueError) as exc:
        fail("create", f"cannot read {case_file}: {exc}")
    if not isinstance(body, dict):
        fail("create", "the case file must hold a JSON object")
    if scenario:
        body.setdefault("metadata", {})["sandboxScenario"] = scenario
    database = open_database(db)
    with where.client() as client:
        result = submit_case(
            database,
            client,
            body,
            actor=settings.operator_name(),
            webhook_url=where.webhook_url(),
        )
    if result.status != "SENT":
        fail(
            "create",
            f"submission {result.submission_id} {result.status}: {printable(result.message)}",
            1,
        )
    click.echo(printable(result.case_id))


@cli.command(epilog=example("offload-console sync"))
@click.option("--concurrency", type=int, default=8, show_default=True, help="GETs in flight")
@db_option
def sync(concurrency: int, db: str | None) -> None:
    """Poll GET /cases/{id} for every open case now and repair what webhooks missed."""
    from reconciler import sync as reconcile

    where = reach(db)
    database = open_database(db)
    with where.client() as client:
        report = reconcile(database, client, concurrency=concurrency)
    click.echo(report.summary())
    for line in report.answers:
        click.echo(f"  answer {printable(line)}")
    for error in report.errors[:10]:
        click.echo(f"  {printable(error)}", err=True)
    sys.exit(1 if report.errors else 0)


class Day(click.ParamType):
    """A calendar day, YYYY-MM-DD."""

    name = "YYYY-MM-DD"

    def convert(self, value, param, ctx):
        from offload_console.csv_export import parse_day

        try:
            return parse_day(value)
        except ValueError:
            self.fail(f"{value!r} is not a day: dates are YYYY-MM-DD (e.g. 2026-11-01)", param, ctx)


DAY = Day()


@cli.command(
    epilog=example(
        "offload-console export --status COMPLETED --since 2026-11-01 --out results.csv\n"
        "  offload-console export --questions --since 2026-11-01 --out questions.csv"
    )
)
@click.option("--status", multiple=True, help="case status; repeat for several")
@click.option("--since", type=DAY, help="created on or after this day (UTC)")
@click.option("--until", type=DAY, help="created on or before this day (UTC)")
@click.option("--completed-since", type=DAY, help="finished on or after this day (UTC)")
@click.option("--completed-until", type=DAY, help="finished on or before this day (UTC)")
@click.option("--result-status", multiple=True, help="e.g. goal_achieved; repeatable")
@click.option("--objective", default="", help="objective contains this text")
@click.option("--reference", default="", help="client reference contains this text")
@click.option(
    "--questions",
    is_flag=True,
    help="questions and their answers instead of cases (--since/--until: when asked)",
)
@click.option(
    "--out", default="-", show_default=True, help="file to write, or - for standard output"
)
@db_option
def export(**options) -> None:
    """Write cases as CSV (one column per result field; formulas neutralised), the same
    bytes as the dashboard's Export page for the same filters. With --questions: every
    question asked (case, reference, question, asked, due, answered, by whom, how, seconds
    to answer)."""
    from offload_console.csv_export import date_range_ms, record_export, write_csv
    from storage.case_filter import CaseFilter

    since, until = date_range_ms(options["since"], options["until"])
    if options["questions"]:
        case_only = [
            f"--{name.replace('_', '-')}"
            for name in ("status", "completed_since", "completed_until", "result_status")
            if options[name]
        ] + [f"--{name}" for name in ("objective", "reference") if options[name]]
        if case_only:
            fail("export", f"{', '.join(case_only)}: filters cases, not --questions")
        _export_questions(options, since, until)
        return
    done_since, done_until = date_range_ms(options["completed_since"], options["completed_until"])
    flt = CaseFilter(
        statuses=[s.upper() for s in options["status"]],
        created_since_ms=since,
        created_until_ms=until,
        completed_since_ms=done_since,
        completed_until_ms=done_until,
        result_statuses=list(options["result_status"]),
        objective=options["objective"],
        client_reference=options["reference"],
    )
    database = open_database(options["db"])
    rows = _write_out(options["out"], lambda out: write_csv(database, flt, out))
    record_export(database, settings.operator_name(), flt, rows, via="cli")
    click.echo(f"exported {rows} cases", err=True)


def _write_out(path: str, write) -> int:
    """``write(binary file)`` to ``path``, or to standard output for ``-`` (on a terminal,
    outside text never sends it an escape sequence); returns what ``write`` returns."""
    if path != "-":
        with open(path, "wb") as out:
            return write(out)
    out = sys.stdout.buffer
    if sys.stdout.isatty():
        from offload_client.text import TerminalWriter

        out = TerminalWriter(out)
    rows = write(out)
    out.flush()
    return rows


def _export_questions(options: dict, since: int | None, until: int | None) -> None:
    from offload_console.csv_export import record_questions_export, write_questions_csv

    database = open_database(options["db"])

    def write(out) -> int:
        return write_questions_csv(
            database,
            out,
            answer_within_ms=settings.answer_within_ms(),
            since_ms=since,
            until_ms=until,
        )

    rows = _write_out(options["out"], write)
    record_questions_export(database, settings.operator_name(), rows, "cli", since, until)
    click.echo(f"exported {rows} questions", err=True)


@cli.command(epilog=example("offload-console dashboard --port 8501"))
@host_option()
@port_option(settings.DEFAULT_DASHBOARD_PORT)
@db_option
def dashboard(host: str, port: int, db: str | None) -> None:
    """Run the Streamlit dashboard alone."""
    from offload_console.accounts import allowed_emails, read_secrets_file, sign_in_setup
    from offload_console.supervisor import dashboard_command

    db_path = settings.db_path(db)
    held = claim("dashboard", db_path, ("dashboard",), {"dashboard": port})
    if not settings.is_loopback(host):
        secrets = read_secrets_file()
        setup = sign_in_setup(open_database(db_path, create=True), secrets)
        if not setup.protected or (setup.oidc and not allowed_emails(secrets)):
            fail(
                "dashboard",
                f"refusing to listen on {host} without sign-in. Either add operators "
                "(`offload-console operators add NAME`), or configure OIDC in "
                ".streamlit/secrets.toml ([auth]) together with an allow-list "
                "(OFFLOAD_CONSOLE_ALLOWED_EMAILS or [console] allowed_emails), then start it "
                "again. On 127.0.0.1 it runs without sign-in.",
            )
    held.keep_across_exec()  # Streamlit, in this process, holds the lock from here on
    # Streamlit, in this process, finds the database by environment: the exec is given it
    environment = settings.child_environment(OFFLOAD_CONSOLE_DB=db_path)
    os.execvpe(sys.executable, dashboard_command(port, host), environment)


@cli.group(epilog=example("offload-console operators add avery   # asks for the password twice"))
def operators() -> None:
    """Manage local operator accounts (the dashboard's sign-in when no OIDC is configured).
    Passwords are hashed with argon2id."""


@operators.command(
    "add", epilog=example("offload-console operators add avery --email avery@example.com")
)
@click.argument("name")
@click.option(
    "--password-stdin", is_flag=True, help="read the password from standard input (for scripts)"
)
@click.option(
    "--email",
    help="where questions assigned to this operator are e-mailed, and the one address they may"
    " answer from by replying",
)
@click.option(
    "--role",
    type=click.Choice(["viewer", "operator", "admin"]),
    help="viewer: reads only; operator: answers, assigns, launches, exports; admin: also"
    " manages operators and templates (new accounts: operator)",
)
@db_option
def operators_add(
    name: str, password_stdin: bool, email: str | None, role: str | None, db: str | None
) -> None:
    """Add an operator, or change an operator's password (and e-mail, role)."""
    from offload_console.accounts import add_operator
    from offload_console.assignment import is_one_address
    from storage.operators import set_email, set_role

    if email is not None and not is_one_address(email.strip()):
        fail("operators", f"--email takes one address, like avery@example.com: {email!r}")
    if sys.stdin.isatty() and not password_stdin:
        password = click.prompt(f"Password for {name}", hide_input=True)
        if click.prompt("Again", hide_input=True) != password:
            fail("operators", "the passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    database = open_database(db, create=True)
    try:
        new = add_operator(database, name, password, settings.operator_name())
    except ValueError as exc:
        fail("operators", str(exc))
    if email:
        set_email(database, name.strip(), email.strip())
    if role:
        set_role(database, name.strip(), role)
    click.echo(f"{'added' if new else 'changed the password of'} {name}")


@operators.command("role", epilog=example("offload-console operators role blake viewer"))
@click.argument("name")
@click.argument("role", type=click.Choice(["viewer", "operator", "admin"]))
@db_option
def operators_role(name: str, role: str, db: str | None) -> None:
    """Change an operator's role (it counts at their next click)."""
    from storage import audit
    from storage.operators import set_role

    database = open_database(db)
    if not set_role(database, name, role):
        fail("operators", f"no operator named {name!r}", 1)
    audit.record(
        database, settings.operator_name(), "operator.role", target=name, detail={"role": role}
    )
    click.echo(f"{name} is now {role}")


@operators.command("remove", epilog=example("offload-console operators remove avery"))
@click.argument("name")
@db_option
def operators_remove(name: str, db: str | None) -> None:
    """Remove an operator's account (their sessions end at their next click)."""
    from offload_console.accounts import delete_operator

    if not delete_operator(open_database(db), name, settings.operator_name()):
        fail("operators", f"no operator named {name!r}", 1)
    click.echo(f"removed {name}")


@operators.command("list", epilog=example("offload-console operators list"))
@db_option
def operators_list(db: str | None) -> None:
    """Print every operator: name, role and e-mail (tab-separated)."""
    from storage.operators import list_operators

    for row in list_operators(open_database(db)):
        click.echo("\t".join(printable(v or "") for v in (row["name"], row["role"], row["email"])))


@cli.command("answer-mailbox", epilog=example("offload-console answer-mailbox"))
@db_option
def answer_mailbox(db: str | None) -> None:
    """Check answering by e-mail: log in to OFFLOAD_CONSOLE_ANSWER_MAILBOX, say what waits in
    it, whether the server has IDLE, and where replies and confirmations go; then list the
    newest messages read (time, outcome, reason, sender; tab-separated). Exit 1 when the
    mailbox cannot be read."""
    from offload_console.csv_export import iso_utc
    from offload_console.mail_reader import connect
    from offload_console.notify import targets_from_urls
    from storage.mail_replies import recent

    box = settings.answer_mailbox()
    if box is None:
        fail("answer-mailbox", "OFFLOAD_CONSOLE_ANSWER_MAILBOX is not set (docs/guide.md)")
    database = open_database(db)
    mail = next((t for t in targets_from_urls(settings.notify_urls()) if t.sends_mail), None)
    click.echo(f"mailbox: {box.label} (handled messages go to {box.done})")
    click.echo(f"replies go to: {settings.answer_address()} (+<token> per e-mail)")
    click.echo(
        "e-mails and confirmations through: "
        + (mail.label if mail else "NOTHING: add a mailto:// URL to OFFLOAD_CONSOLE_NOTIFY_URLS")
    )
    try:
        mailbox = connect(box)
    except Exception as exc:  # noqa: BLE001 - whatever failed is named, never the password
        text = str(exc).replace(box.password, "•••") if box.password else str(exc)
        click.echo(f"cannot read it: {printable(text)}", err=True)
        sys.exit(1)
    try:
        waiting = len(mailbox.uids("ALL"))
        idle = "IDLE" in mailbox.client.capabilities
    finally:
        mailbox.logout()
    click.echo(
        f"logged in: {waiting} message(s) waiting in {box.folder}; "
        + ("IDLE: replies are read as they arrive" if idle else "no IDLE: read every 5 s")
    )
    for row in recent(database, 20):
        click.echo(
            "\t".join(
                printable(str(v or ""))
                for v in (
                    iso_utc(row["received_at"]),
                    row["outcome"] or "being sent",
                    row["reason"],
                    row["sender"],
                    row["reply_status"],
                )
            )
        )


@cli.command(
    epilog=example("offload-console deliveries --outcome rejected --since 2026-11-01 --limit 20")
)
@click.option(
    "--outcome",
    type=click.Choice(OUTCOMES),
    multiple=True,
    help="only these outcomes; repeatable",
)
@click.option("--type", "event_type", default="", help="only this event type")
@click.option("--case", "case_id", default="", help="only this case id")
@click.option("--since", type=DAY, help="received on or after this day (UTC)")
@click.option("--limit", type=int, default=50, show_default=True, help="newest first, this many")
@db_option
def deliveries(outcome, event_type, case_id, since, limit, db) -> None:
    """List what happened to each webhook delivery the sidecar received, newest first: time,
    outcome, HTTP status, event type, case, reason (tab-separated)."""
    from offload_console.csv_export import date_range_ms, iso_utc
    from storage.deliveries import DeliveryFilter, list_deliveries

    since_ms, _ = date_range_ms(since, None)
    flt = DeliveryFilter(list(outcome), event_type, case_id, since_ms)
    rows = list_deliveries(open_database(db), flt, limit=limit)
    click.echo("received_at\toutcome\tstatus\tevent_type\tcase_id\tevent_id\treason")
    for row in rows:
        cells = [
            iso_utc(row["received_at"]),
            row["outcome"],
            str(row["status_code"]),
            row["event_type"] or "",
            row["case_id"] or "",
            row["event_id"] or "",
            row["reason"] or "",
        ]
        # Outside text, one line per delivery: control characters (tabs, newlines, terminal
        # escapes) inside a value are shown escaped.
        click.echo("\t".join(printable(c) for c in cells))


@cli.command(epilog=example("offload-console reproject"))
@db_option
def reproject(db: str | None) -> None:
    """Apply again every stored event whose projection failed (after an upgrade fixed the
    cause), and print the outcome per event."""
    from storage.deliveries import reproject as apply_again

    database = open_database(db)
    results = apply_again(database, settings.operator_name())
    if not results:
        click.echo("no event waits to be applied again")
        return
    for result in results:
        fields = [result["outcome"], result["event_id"], result["case_id"], result["error"]]
        click.echo("\t".join(printable(str(f)) for f in fields if f))
    failing = sum(r["outcome"] != "applied" for r in results)
    click.echo(f"{len(results) - failing} applied, {failing} still failing", err=True)
    sys.exit(1 if failing else 0)


@cli.command(epilog=example("offload-console migrate"))
@db_option
def migrate(db: str | None) -> None:
    """Create the database if needed (a SQLite file; a PostgreSQL database must exist) and
    bring its schema up to date, then say which
    migrations it has (every command that opens it does the same; run this before a rolling
    deploy of a new version, so no instance migrates while others serve)."""
    from storage.db import applied_migrations

    database = open_database(db, create=True)
    names = applied_migrations(database)
    database.conn.close()
    label = settings.db_label(settings.db_path(db))
    click.echo(f"{label}: up to date, {len(names)} migrations applied (newest: {names[-1]})")


@cli.command(epilog=example("offload-console demo"))
@db_option
def demo(db: str | None) -> None:
    """Create 8 demo W-9 cases covering the 6 sandbox scenarios (3 ask a question), through
    the real API path."""
    from offload_console.demo import seed_demo_cases

    where = reach(db)
    database = open_database(db)
    with where.client() as client:
        results = seed_demo_cases(database, client, where.webhook_url())
    for result in results:
        click.echo(f"{result.status:8} {printable(result.case_id or result.submission_id)}")
    sys.exit(0 if all(r.status == "SENT" for r in results) else 1)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; the exit status."""
    try:
        cli.main(args=argv, prog_name="offload-console", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0


if __name__ == "__main__":
    cli(prog_name="offload-console")
