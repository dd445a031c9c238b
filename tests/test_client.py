"""The Offload client: envelopes, the error tree, retries for GETs, never a resent POST."""

import json
import socket
import threading

import httpx
import pytest

from offload_client import (
    OffloadAPIError,
    OffloadClient,
    OffloadConnectError,
    OffloadProtocolError,
    OffloadUnknownOutcome,
)
from offload_client.models import TERMINAL_STATUSES
from tests.helpers import free_port

KEY = "sk_live_CANARY_7f3a"


def make(handler, **kw):
    sleeps = []
    client = OffloadClient(
        "https://offload.example",
        KEY,
        transport=httpx.MockTransport(handler),
        sleep=sleeps.append,
        **kw,
    )
    return client, sleeps


def envelope(data, status=200):
    return httpx.Response(status, json={"ok": True, "data": data})


def test_create_sends_key_and_body_and_returns_case_id():
    seen = {}

    def handler(request):
        seen["key"] = request.headers["x-api-key"]
        seen["body"] = json.loads(request.content)
        return envelope({"caseId": "case_123"})

    client, _ = make(handler)
    assert client.create_case({"channel": "EMAIL"}).case_id == "case_123"
    assert seen == {"key": KEY, "body": {"channel": "EMAIL"}}


def test_get_case_parses_state_and_transcript_flag():
    def handler(request):
        assert request.url.params.get("includeTranscript") == "true"
        return envelope(
            {
                "caseId": "c1",
                "status": "INPUT_NEEDED",
                "updatedAt": 5,
                "nextActionAt": 253402300799999,
                "attemptCount": 1,
                "inputRequest": {
                    "id": "r1",
                    "question": "Q?",
                    "status": "PENDING",
                    "requestedAt": 4,
                },
                "conversationThread": "hello",
            }
        )

    client, _ = make(handler)
    state = client.get_case("c1", include_transcript=True)
    assert state.input_request.id == "r1"
    assert state.nothing_scheduled
    assert state.conversation_thread == "hello"
    assert state.status not in TERMINAL_STATUSES


@pytest.mark.parametrize(
    "response, status, code",
    [
        (
            httpx.Response(
                409,
                json={
                    "ok": False,
                    "error": {"code": "INPUT_REQUEST_NOT_PENDING", "message": "no longer pending"},
                },
            ),
            409,
            "INPUT_REQUEST_NOT_PENDING",
        ),
        (httpx.Response(429, text="Too Many Requests"), 429, "RATE_LIMITED"),
        (httpx.Response(502, text="<html>Bad Gateway</html>"), 502, "INTERNAL_ERROR"),
        (httpx.Response(403, json={"message": "Forbidden"}), 403, "HTTP_403"),
    ],
)
def test_errors_with_and_without_envelope_become_api_errors(response, status, code):
    client, _ = make(lambda request: response)
    with pytest.raises(OffloadAPIError) as info:
        client.provide_input("c1", "r1", "yes")
    assert (info.value.status, info.value.code) == (status, code)
    assert KEY not in str(info.value)
    assert info.value.advice


def test_success_status_without_envelope_is_protocol_error():
    client, _ = make(lambda request: httpx.Response(200, text="OK"))
    with pytest.raises(OffloadProtocolError):
        client.get_case("c1")


def test_get_retries_503_then_succeeds_honouring_retry_after():
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) < 3:
            return httpx.Response(503, headers={"retry-after": "2"}, text="busy")
        return envelope({"caseId": "c1", "status": "RUNNING", "updatedAt": 1})

    client, sleeps = make(handler)
    assert client.get_case("c1").status == "RUNNING"
    assert len(calls) == 3
    assert sleeps == [2.0, 2.0]


def test_get_gives_up_after_three_attempts_with_capped_backoff():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(
            500, json={"ok": False, "error": {"code": "INTERNAL_ERROR", "message": "x"}}
        )

    client, sleeps = make(handler, backoff_base=1.0, backoff_cap=1.5)
    with pytest.raises(OffloadAPIError):
        client.get_case("c1")
    assert len(calls) == 3
    assert len(sleeps) == 2 and all(0.5 <= s <= 1.5 for s in sleeps)


def test_post_is_never_retried_on_5xx():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(503, text="unavailable")

    client, _ = make(handler)
    with pytest.raises(OffloadAPIError) as info:
        client.create_case({})
    assert info.value.ambiguous
    assert len(calls) == 1


def test_post_to_a_hanging_server_is_sent_exactly_once():
    """A real server that reads requests and never answers sees exactly one POST."""
    port = free_port()
    server = socket.socket()
    server.bind(("127.0.0.1", port))
    server.listen(16)
    seen: list[bytes] = []
    stop = threading.Event()
    conns = []

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conns.append(conn)
            data = conn.recv(65536)
            seen.append(data)

    thread = threading.Thread(target=accept)
    thread.start()
    client = OffloadClient(
        f"http://127.0.0.1:{port}",
        KEY,
        timeout=httpx.Timeout(0.5, connect=1.0),
        sleep=lambda s: None,
    )
    try:
        with pytest.raises(OffloadUnknownOutcome) as info:
            client.create_case({"channel": "EMAIL"})
        assert KEY not in str(info.value)
    finally:
        stop.set()
        thread.join()
        for conn in conns:
            conn.close()
        server.close()
    posts = [d for d in seen if d.startswith(b"POST /cases")]
    assert len(posts) == 1


def test_unreachable_host_is_a_connect_error_not_unknown():
    client = OffloadClient(f"http://127.0.0.1:{free_port()}", KEY, sleep=lambda s: None)
    with pytest.raises(OffloadConnectError) as info:
        client.create_case({})
    assert KEY not in str(info.value) and KEY not in repr(client)


def test_a_single_attempt_client_does_not_retry():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(503, text="busy")

    client, sleeps = make(handler, get_attempts=1)
    with pytest.raises(OffloadAPIError):
        client.get_case("c1")
    assert (len(calls), sleeps) == (1, [])
