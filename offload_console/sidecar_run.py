"""The `sidecar` command's parts put together: the webhook app (``sidecar.app``), its
presence in ``instances``, its notification targets, the notifier and the reconciler in its
event loop. :func:`options` reads what it needs from the settings once; :func:`build` makes
the app; :func:`run` serves it."""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass

from offload_console import instance, run_files, settings
from offload_console.accounts import allowed_emails
from offload_console.mail_answers import inviter
from offload_console.mail_reader import ReaderOptions, ReaderState, mailer_for, read_forever
from offload_console.mailbox import Mailbox
from offload_console.notify import (
    NotifyOptions,
    Target,
    notify_forever,
    switch_on,
    targets_from_urls,
)
from offload_console.routing import route_forever
from storage import DatabaseUnavailable, StorageError, now_ms
from storage.jobs import JobLock
from storage.notifications import refresh_targets
from storage.pg import is_postgresql


class CannotStart(Exception):
    """The sidecar cannot start (its database cannot be opened): one line for the operator."""


@dataclass(frozen=True)
class SidecarOptions:
    host: str
    port: int
    db_path: str
    reconcile_every_s: float
    log_level: str
    token: str | None
    targets: list[Target]
    notify: NotifyOptions
    spool_max_bytes: int = 0
    busy_timeout_ms: int = 5000
    request_timeout_s: float = 10.0
    mailbox: Mailbox | None = None  # the answer mailbox: replies answer questions
    auto_assign_cap: int | None = None  # routing on: new questions go to on-duty operators
    reader: ReaderOptions | None = None

    @property
    def several(self) -> bool:
        """Several consoles may share the database (PostgreSQL)."""
        return is_postgresql(self.db_path)

    @property
    def spool_path(self) -> str | None:
        return settings.spool_path(self.db_path, self.port) if self.spool_max_bytes else None


def options(
    host: str, port: int, db_path: str, reconcile_every_s: float, log_level: str
) -> SidecarOptions:
    """The sidecar's settings, from the process's one ``settings.current()``."""
    mailbox, address = settings.answer_mailbox(), settings.answer_address()
    allowed = frozenset(allowed_emails(settings.read_secrets_file()))
    reader = (
        ReaderOptions(
            address,
            settings.dashboard_url(),
            settings.answer_require_auth(),
            allowed,
            settings.answer_authserv_id(),
        )
        if mailbox
        else None
    )
    return SidecarOptions(
        host=host,
        port=port,
        db_path=db_path,
        reconcile_every_s=reconcile_every_s,
        log_level=log_level,
        token=settings.webhook_token(),
        targets=targets_from_urls(settings.notify_urls(), settings.escalate_urls()),
        notify=NotifyOptions(
            dashboard_url=settings.dashboard_url(),
            answer_within_ms=settings.answer_within_ms(),
            digest_ms=int(settings.notify_digest_s() * 1000),
            first_retry_ms=int(settings.notify_retry_s() * 1000),
            recover_ms=int(settings.notify_recover_s() * 1000),
            remind_at=settings.remind_at(),
            invite=inviter(address, allowed) if mailbox else None,
        ),
        spool_max_bytes=settings.spool_max_bytes(db_path),
        busy_timeout_ms=settings.busy_timeout_ms(),
        request_timeout_s=settings.request_timeout_s(),
        mailbox=mailbox,
        reader=reader,
        auto_assign_cap=settings.auto_assign_cap(),
    )


def _say(text: str, *, err: bool = False) -> None:
    print(text, file=sys.stderr if err else sys.stdout, flush=True)


def build(opts: SidecarOptions):
    """The sidecar's app, with its presence, targets, notifier and reconciler started and
    stopped by the app's lifespan. Records the targets now (raises :class:`CannotStart` when
    the database cannot be opened at all; an unavailable one is tried again every 2 s)."""
    from reconciler.loop import reconcile_forever
    from sidecar.app import create_app

    background: list[asyncio.Task] = []
    reader_state = ReaderState(opts.mailbox) if opts.mailbox is not None else None

    def open_db():
        return settings.open_db(opts.db_path)

    async def on_startup(app):
        presence.start()
        if not targets_recorded:
            background.append(asyncio.create_task(record_targets_later()))
        if opts.targets:
            background.append(
                asyncio.create_task(
                    notify_forever(
                        open_db,
                        opts.targets,
                        opts.notify,
                        job_for=lambda target_id: JobLock(opts.db_path, f"notifier:{target_id}"),
                    )
                )
            )
        if opts.reconcile_every_s > 0:
            background.append(
                asyncio.create_task(
                    reconcile_forever(
                        open_db,
                        settings.offload_client,
                        opts.reconcile_every_s,
                        job=JobLock(opts.db_path, "reconciler"),
                    )
                )
            )

        if opts.auto_assign_cap is not None:
            background.append(
                asyncio.create_task(
                    route_forever(
                        open_db, opts.auto_assign_cap, job=JobLock(opts.db_path, "router")
                    )
                )
            )
        if opts.mailbox is not None:
            mail = next((t for t in opts.targets if t.sends_mail), None)
            background.append(
                asyncio.create_task(
                    read_forever(
                        open_db,
                        settings.offload_client,
                        opts.mailbox,
                        opts.reader,
                        mailer_for(mail) if mail else None,
                        job=JobLock(opts.db_path, "answer-mail"),
                        reader_state=reader_state,
                    )
                )
            )

    async def on_shutdown(app):
        for task in background:
            task.cancel()
        await asyncio.to_thread(presence.stop)

    app = create_app(
        opts.db_path,
        token=opts.token,
        busy_timeout_ms=opts.busy_timeout_ms,
        body_timeout_s=opts.request_timeout_s,
        spool_path=opts.spool_path,
        spool_max_bytes=opts.spool_max_bytes,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
    )

    def on_beat(database, instance_id) -> None:
        if opts.several:  # a target is active while some running instance has it
            refresh_targets(database, now=now_ms())

    def status() -> dict:
        figures = app.state.writer.figures()
        if reader_state is not None:
            figures["answer_mail"] = reader_state.figures()
        return figures

    presence = instance.Presence(open_db, "sidecar", opts.port, status=status, on_beat=on_beat)

    def record_targets() -> None:
        # The configured targets are active: a question recorded from now on gets a
        # notification row for each, in the same transaction (a trigger). On PostgreSQL they
        # are this instance's, beside those of the other instances running.
        database = open_db()  # migrations here
        try:
            presence.register(database)
            waiting = switch_on(
                database,
                opts.targets,
                now=now_ms(),
                instance_id=presence.instance_id if opts.several else None,
            )
        finally:
            database.conn.close()
        if waiting:
            _say(f"sidecar: {waiting} questions already waiting: one message names them")

    async def record_targets_later() -> None:
        while True:
            await asyncio.sleep(2)
            try:
                await asyncio.to_thread(record_targets)
            except StorageError:
                continue
            _say("sidecar: the database is available again", err=True)
            return

    try:
        record_targets()
        targets_recorded = True
    except DatabaseUnavailable as exc:  # a full disk, a server down: start, spool or 503
        _say(
            f"sidecar: the database {settings.db_label(opts.db_path)} is unavailable ({exc});"
            " starting anyway: "
            + (
                "deliveries wait in the spool until it answers"
                if opts.spool_max_bytes
                else "deliveries get 503 until it can be written"
            ),
            err=True,
        )
        targets_recorded = False
    except (OSError, StorageError) as exc:
        raise CannotStart(settings.cannot_open(opts.db_path, exc)) from exc
    return app


def start_line(opts: SidecarOptions) -> str:
    path = "/webhooks/offload/<token>" if opts.token else "/webhooks/offload"
    return (
        f"sidecar: receiving Offload webhooks at http://{opts.host}:{opts.port}{path}"
        f" (health: /healthz), database {settings.db_label(opts.db_path)}; reconciler "
        + (f"every {opts.reconcile_every_s:g} s" if opts.reconcile_every_s > 0 else "off")
        + "; notifications to "
        + (
            ", ".join(t.label for t in opts.targets)
            if opts.targets
            else "nobody (no OFFLOAD_CONSOLE_NOTIFY_URLS)"
        )
        + (
            f"; spool {opts.spool_path} (up to {opts.spool_max_bytes >> 20} MiB)"
            if opts.spool_max_bytes
            else ""
        )
        + (
            f"; new questions assigned to operators on duty (at most {opts.auto_assign_cap} open"
            " each)"
            if opts.auto_assign_cap is not None
            else ""
        )
        + (
            f"; answers by e-mail read from {opts.mailbox.label}"
            + (
                ""
                if any(t.sends_mail for t in opts.targets)
                else " (no mailto:// target:"
                " no e-mail carries a reply address, no confirmation goes)"
            )
            if opts.mailbox
            else ""
        )
    )


def run(opts: SidecarOptions, *, names_the_database: bool) -> None:
    """Build and serve until stopped. ``names_the_database``: this process is the running
    console for its user (not a child of ``up``, which names its database itself)."""
    from offload_console.redact import RedactingFilter
    from sidecar.server import serve

    app = build(opts)
    # Apprise logs the URLs it derives from the configured ones (tokens in them): WARNING
    # and above only, unless OFFLOAD_CONSOLE_APPRISE_LOG_LEVEL asks for more; every line
    # is masked besides (RedactingFilter).
    logging.getLogger("apprise").setLevel(settings.apprise_log_level())
    _say(start_line(opts))
    if names_the_database:
        run_files.write_current(settings.data_dir(), opts.db_path)
    try:
        serve(
            app,
            opts.host,
            opts.port,
            log_level=opts.log_level,
            request_timeout_s=opts.request_timeout_s,
            use_uvloop=settings.use_uvloop(),
            log_filter=RedactingFilter(),
        )
    finally:
        if names_the_database:
            run_files.remove_current(settings.data_dir(), opts.db_path)
