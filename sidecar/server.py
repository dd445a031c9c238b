"""Running the sidecar under uvicorn, with timeouts for idle and slow connections."""

from __future__ import annotations

import asyncio
import logging
import resource
from collections import OrderedDict

import uvicorn
from uvicorn.config import HTTP_PROTOCOLS
from uvicorn.importer import import_from_string

REQUEST_TIMEOUT_S = 10.0


class SlowClientGuard(asyncio.Protocol):
    """uvicorn leaves open a connection that never sends a request, or trickles its head, for
    ever. This wraps uvicorn's own HTTP protocol (by composition: it is handed a transport that
    reports the server's writes) and closes a connection whose client has not sent a whole
    request head within ``timeout_s`` of connecting or of the server's last write, with a 408
    if a head had begun. The body is timed by the app (:func:`sidecar.app.create_app`)."""

    # Connections still owing their request head, oldest first (one event loop per process).
    # When open connections near the process's file limit, the oldest of these is closed for
    # each new one: a flood of slow sockets cannot take the descriptors a delivery needs (at
    # the limit the kernel's queue holds new connections unaccepted, and they are lost).
    waiting: OrderedDict[SlowClientGuard, None] = OrderedDict()
    open_count = 0
    max_open = 1 << 30  # set by serve() from the file limit

    def __init__(self, inner: asyncio.Protocol, timeout_s: float):
        self.inner = inner
        self.timeout_s = timeout_s
        self.loop = asyncio.get_event_loop()
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.received = b""  # the last bytes of a head still being read, while the timer runs

    @classmethod
    def wrapping(cls, protocol_class, timeout_s: float):
        """A factory for uvicorn's ``Config(http=...)``: each connection gets ``protocol_class``
        (as uvicorn would build it) inside a guard."""

        def build(**kwargs) -> SlowClientGuard:
            return cls(protocol_class(**kwargs), timeout_s)

        return build

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        cls = type(self)
        cls.open_count += 1
        while cls.open_count > cls.max_open and cls.waiting:
            oldest, _ = cls.waiting.popitem(last=False)
            oldest._timed_out()  # shed: it has had longest to send its head
        self.inner.connection_made(_WatchedTransport(transport, self))
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.timer is not None:
            seen = self.received + data
            if b"\r\n\r\n" in seen:
                self._disarm()  # a whole head: the rest is the app's to time
            else:
                self.received = seen[-3:] or b"\0"  # non-empty: a head has begun
        self.inner.data_received(data)

    def eof_received(self):
        return self.inner.eof_received()

    def connection_lost(self, exc) -> None:
        self._disarm()
        type(self).open_count -= 1
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def server_wrote(self) -> None:
        """The server answered: the next thing owed is the client's next request."""
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self.timer = self.loop.call_later(self.timeout_s, self._timed_out)
        type(self).waiting[self] = None

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.received = b""
        type(self).waiting.pop(self, None)

    def _timed_out(self) -> None:
        begun = bool(self.received)
        self._disarm()
        if self.transport.is_closing():
            return
        if begun:
            self.transport.write(TIMEOUT_RESPONSE)
        self.transport.close()


class _WatchedTransport:
    """The transport uvicorn's protocol is given: the real one, telling the guard of writes."""

    def __init__(self, transport, guard: SlowClientGuard):
        self._transport = transport
        self._guard = guard

    def write(self, data) -> None:
        self._transport.write(data)
        self._guard.server_wrote()

    def __getattr__(self, name):
        return getattr(self._transport, name)


TIMEOUT_BODY = (
    b'{"ok":false,"error":{"code":"REFUSED","message":"the request did not arrive in time"}}'
)
TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(TIMEOUT_BODY)
    + TIMEOUT_BODY
)


def serve(
    app,
    host: str,
    port: int,
    *,
    log_level: str = "info",
    request_timeout_s: float = REQUEST_TIMEOUT_S,
    use_uvloop: bool = True,
    log_filter: logging.Filter | None = None,
) -> None:
    """Serve ``app`` until SIGINT/SIGTERM. The access log is off: it would print the token
    path. The app logs one line per delivery itself. ``log_filter`` goes on every handler of
    the root and uvicorn loggers (the CLI's secret redaction)."""
    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    SlowClientGuard.max_open = _connection_limit()
    http = SlowClientGuard.wrapping(import_from_string(HTTP_PROTOCOLS["auto"]), request_timeout_s)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=http,
        loop="uvloop" if use_uvloop and _has_uvloop() else "asyncio",
        access_log=False,
        log_level=log_level,
        timeout_keep_alive=5,
        server_header=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    config.load()  # configures uvicorn's loggers: filter their handlers too
    if log_filter is not None:
        for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"):
            for handler in logging.getLogger(name).handlers:
                handler.addFilter(log_filter)
    server.run()


FILES_KEPT_FREE = 256  # the database, logs, the notifier's sockets, and headroom


def _connection_limit() -> int:
    """Raise the open-file limit to what the system allows and keep FILES_KEPT_FREE of it
    for everything but client connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return 1 << 30
    return max(64, soft - FILES_KEPT_FREE)


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True
