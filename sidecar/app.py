"""The sidecar's ASGI app (Starlette): ``POST /webhooks/offload[/<token>]`` and ``/healthz``."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import storage
from sidecar.delivery import Refused
from sidecar.writer import GroupCommitWriter, NotStored, freeze_startup_objects
from storage.db import DEFAULT_BUSY_TIMEOUT_MS
from storage.deliveries import health_summary

log = logging.getLogger("offload_console.sidecar")

MAX_BODY = 256 * 1024  # Offload's events are a few KiB; every accepted body is stored whole
BODY_TIMEOUT_S = 10.0
RETRY_AFTER_S = "2"
# What a 503 says, by why the delivery was not stored: what it is, not only "busy".
REFUSAL_MESSAGES = {
    "spool_full": "the sidecar's spool is full, retry",
    "busy": "the database is busy (locked by another writer), retry",
    "timeout": "the database did not answer in time, retry",
    "disk_full": "the database's disk is full: nothing can be stored until space is freed",
    "read_only": "the database is read-only: nothing can be stored until it is writable",
    "io_error": "the database's disk could not be written (full or failing), retry",
    "no_memory": "the database ran out of memory, retry",
    "unavailable": "the database is unavailable (restarting or unreachable), retry",
    "stopping": "the sidecar is stopping, retry",
}
HEALTH_WAIT_S = 0.5  # how long /healthz waits on the database before answering without it
WEBHOOK_PATH = "/webhooks/offload"


async def _read_body(request: Request) -> bytes:
    """The body, refused early (413) when Content-Length is over MAX_BODY."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Refused(400, "Content-Length is not a number")
        if int(declared) > MAX_BODY:
            raise Refused(413, f"body of {declared} bytes is over the 256 KiB limit", int(declared))
        return await request.body()
    chunks: list[bytes] = []  # chunked: count as it comes
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise Refused(413, "body is over the 256 KiB limit")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    db_path: str,
    *,
    token: str | None = None,
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    body_timeout_s: float = BODY_TIMEOUT_S,
    spool_path: str | None = None,
    spool_max_bytes: int = 0,
    on_startup=None,
    on_shutdown=None,
) -> Starlette:
    """Build the sidecar. With ``token`` the webhook lives at ``/webhooks/offload/<token>`` and
    every other webhook path is a 404. A body that takes longer than ``body_timeout_s`` to
    arrive is answered 408. ``spool_path``/``spool_max_bytes``: the local spool for what the database cannot take
    (``storage.spool``; 0 bytes: none, a 503 instead)."""
    health_thread = ThreadPoolExecutor(1, thread_name_prefix="sidecar-health")
    writer = GroupCommitWriter(
        db_path,
        busy_timeout_ms,
        spool_path=spool_path,
        spool_max_bytes=spool_max_bytes,
    )
    read_db_holder: dict = {}

    @asynccontextmanager
    async def lifespan(app):
        await writer.start()
        if on_startup:
            await on_startup(app)
        freeze_startup_objects()
        try:
            yield
        finally:
            if on_shutdown:
                await on_shutdown(app)
            await writer.stop()
            health_thread.shutdown(wait=False, cancel_futures=True)
            if "db" in read_db_holder:
                read_db_holder["db"].conn.close()

    def refuse(request: Request, started: float, refused: Refused, body: bytes) -> Response:
        """A refusal decided here (before the body reached the writer thread): record it."""
        writer.note_rejection(
            received_at=storage.now_ms(),
            remote_addr=request.client.host if request.client else None,
            status_code=refused.status,
            reason=refused.reason,
            body=body,
            body_size=refused.body_size,
        )
        return refused_response(started, refused.status, refused.reason)

    def refused_response(started: float, status: int, reason: str) -> Response:
        log.info(
            "delivery refused status=%d reason=%r ms=%.1f",
            status,
            reason[:120],
            (time.perf_counter() - started) * 1000,
        )
        headers = {"Connection": "close"} if status in (408, 413) else None
        return JSONResponse(
            {"ok": False, "error": {"code": "REFUSED", "message": reason}},
            status_code=status,
            headers=headers,
        )

    async def webhook(request: Request) -> Response:
        started = time.perf_counter()
        if token is not None and not hmac.compare_digest(
            request.path_params.get("token", "").encode(), token.encode()
        ):
            return JSONResponse({"ok": False, "error": {"code": "NOT_FOUND"}}, status_code=404)
        body = b""
        # Offload posts application/json. Requiring it makes a cross-origin page's "simple"
        # POST (text/plain, a form) impossible: anything else needs a CORS preflight, which
        # this server never grants.
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return refuse(
                request, started, Refused(415, "Content-Type must be application/json"), body
            )
        try:
            async with asyncio.timeout(body_timeout_s):
                body = await _read_body(request)
        except TimeoutError:
            return refuse(request, started, Refused(408, "the body did not arrive in time"), body)
        except Refused as refused:
            return refuse(request, started, refused, body)
        except ClientDisconnect:
            return Response(status_code=400)
        remote = request.client.host if request.client else None
        try:
            outcome = await writer.deliver(body, storage.now_ms(), remote)
        except NotStored as exc:
            log.warning(
                "delivery event_id=%r type=%r outcome=%s ms=%.1f error=%r",
                exc.outcome.event_id,
                exc.outcome.event_type,
                exc.outcome.why,
                (time.perf_counter() - started) * 1000,
                exc.outcome.detail,
            )
            message = REFUSAL_MESSAGES.get(exc.outcome.why, "the delivery was not stored, retry")
            return JSONResponse(
                {"ok": False, "error": {"code": "BUSY", "message": message}},
                status_code=503,
                headers={"Retry-After": RETRY_AFTER_S},
            )
        if outcome.status != 200:
            return refused_response(started, outcome.status, outcome.detail)
        log.info(  # %r: outside values are escaped, so a newline cannot forge a log line
            "delivery event_id=%r type=%r case=%r outcome=%s ms=%.1f",
            outcome.event_id,
            outcome.event_type,
            outcome.case_id,
            outcome.detail,
            (time.perf_counter() - started) * 1000,
        )
        return JSONResponse(
            {"ok": True, "data": {"event_id": outcome.event_id, "outcome": outcome.detail}}
        )

    def database_summary() -> dict:
        if "db" not in read_db_holder:  # opened at the first check (it may be full at start)
            read_db_holder["db"] = storage.open_db(
                db_path, busy_timeout=busy_timeout_ms, any_thread=True
            )
        return health_summary(read_db_holder["db"])

    probe: dict = {}  # the one database check under way, shared by concurrent /healthz

    async def check_database() -> dict:
        """The database's figures, or ``{"database": "error: …"}``; one check at a time, in
        a thread of its own, waited for HEALTH_WAIT_S at most (the answer must be quick
        while the database is down: a load balancer is asking)."""
        task = probe.get("task")
        if task is None or task.done():
            task = probe["task"] = asyncio.ensure_future(
                asyncio.get_running_loop().run_in_executor(health_thread, database_summary)
            )
            # Its error is read here even when no /healthz waited long enough to see it.
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
        try:
            return {"database": "ok", **await asyncio.wait_for(asyncio.shield(task), HEALTH_WAIT_S)}
        except TimeoutError:
            return {"database": f"error: no answer within {HEALTH_WAIT_S:g} s"}
        except Exception as exc:  # noqa: BLE001 - health must answer, not crash
            return {"database": f"error: {type(exc).__name__}: {str(exc)[:200]}"}

    async def healthz(request: Request) -> Response:
        """200 while this sidecar takes deliveries (into the database, or into its spool while
        the database cannot take them); 503 when it cannot take them at all."""
        status = {"ok": True, **await check_database()}
        figures = writer.figures()
        if figures["database"] != "ok" and status["database"] == "ok":
            status["database"] = f"error: {figures['database']}"
        spool = figures["spool"]
        status["spool"] = spool
        status["spooling"] = figures["spooling"]
        status["projection_error"] = figures["projection_error"]
        status["ok"] = status["database"] == "ok" or (
            spool is not None and spool["bytes"] < spool["max_bytes"]
        )
        status["writer"] = {**writer.stats.as_dict(), "waiting": writer.waiting}
        return JSONResponse(status, status_code=200 if status["ok"] else 503)

    webhook_path = f"{WEBHOOK_PATH}/{{token}}" if token else WEBHOOK_PATH
    routes = [
        Route(webhook_path, webhook, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.writer = writer
    return app
