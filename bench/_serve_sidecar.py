"""Serve the sidecar app for bench/sidecar_ingest.py, with two extra routes to compare with:

    python bench/_serve_sidecar.py DB_PATH PORT [thread|loop]

``POST /bench/noop`` reads the body and answers 200 without touching the database.
``POST /bench/naive`` is the receiver a user would write first, on the same stack: a plain
``def`` endpoint (so Starlette runs it in its thread pool) that parses the body and stores it
with the same storage code, one ``BEGIN IMMEDIATE`` … ``COMMIT`` (``synchronous=FULL``) per
request, on a connection per worker thread.
"""

import sys
import threading

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import storage
from sidecar.app import create_app
from sidecar.delivery import Refused, parse_delivery
from sidecar.server import serve
from storage.db import write_transaction
from storage.events import record_events

db_path, port = sys.argv[1], int(sys.argv[2])
in_thread = (sys.argv[3] if len(sys.argv) > 3 else "thread") == "thread"
app = create_app(db_path)
app.state.writer.in_thread = in_thread  # "loop": commits on the event loop, to compare
local = threading.local()


async def noop(request: Request):
    await request.body()
    return JSONResponse({"ok": True})


async def naive(request: Request):
    body = await request.body()
    return await _store(body)


def _store_sync(body: bytes):
    if not hasattr(local, "db"):
        local.db = storage.open_db(db_path)
    try:
        event = parse_delivery(body)
    except Refused as refused:
        return JSONResponse({"ok": False, "error": refused.reason}, status_code=refused.status)
    with write_transaction(local.db):
        (is_new,) = record_events(local.db, [(event, storage.now_ms())])
    return JSONResponse({"ok": True, "data": {"outcome": "stored" if is_new else "duplicate"}})


async def _store(body: bytes):
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_store_sync, body)


app.router.routes.append(Route("/bench/noop", noop, methods=["POST"]))
app.router.routes.append(Route("/bench/naive", naive, methods=["POST"]))
serve(app, "127.0.0.1", port, log_level="warning")
