"""Tests never touch a console the user is running (8787, 8788, 8501): conftest guards those
ports for the whole run and fails it on any connection. This proves the guard notices."""

import httpx

from tests.helpers import PortGuard, free_port, wait_until


def test_port_guard_records_a_connection():
    guard = PortGuard(free_port())
    try:
        assert guard.active
        try:
            httpx.post(f"http://127.0.0.1:{guard.port}/webhooks/offload", json={}, timeout=1)
        except httpx.HTTPError:
            pass  # the guard answers nothing
        wait_until(lambda: guard.connections, timeout=5, message="guard saw the connection")
        assert guard.connections[0].startswith("POST /webhooks/offload")
    finally:
        guard.close()


def test_users_ports_are_guarded_when_free(users_ports_untouched):
    for guard in users_ports_untouched:
        if guard.active:
            assert guard.connections == []
