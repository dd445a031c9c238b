"""Hostile bodies: whatever arrives, the sidecar answers 2xx or 4xx and keeps serving."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from sidecar.app import create_app

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

envelope_like = st.fixed_dictionaries(
    {},
    optional={
        "event_id": json_values | st.text(min_size=1),
        "event_type": json_values | st.sampled_from(["case.completed", "case.input_needed"]),
        "timestamp": json_values | st.integers(min_value=-(2**70), max_value=2**70),
        "data": json_values
        | st.fixed_dictionaries(
            {"caseId": json_values | st.text(min_size=1)},
            optional={
                "status": json_values,
                "inputRequestId": json_values,
                "inputRequest": json_values,
                "result": json_values,
                "attemptCount": json_values,
                "inputRequestedAt": json_values,
                "metadata": json_values,
                "resultStatus": json_values,
            },
        ),
    },
)

bodies = (
    st.binary(max_size=2000)
    | json_values.map(lambda v: json.dumps(v).encode())
    | envelope_like.map(lambda v: json.dumps(v).encode())
    | st.integers(min_value=1, max_value=200_000).map(lambda n: b"[" * n + b"]" * n)
    | st.integers(min_value=1, max_value=50_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n)
)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    app = create_app(str(tmp_path_factory.mktemp("hostile") / "h.db"))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies)
def test_any_body_gets_2xx_or_4xx_never_5xx(client, body):
    r = client.post("/webhooks/offload", content=body, headers={"content-type": "application/json"})
    assert r.status_code in (200, 400, 413, 422), (r.status_code, r.text)
    assert client.get("/healthz").status_code == 200


def test_huge_body_is_413(client):
    r = client.post(
        "/webhooks/offload",
        content=b"x" * (256 * 1024 + 1),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413


def test_valid_envelope_with_hostile_data_fields_is_stored(client):
    body = {
        "event_id": "evt_h_case_input_needed_1",
        "event_type": "case.input_needed",
        "timestamp": 1,
        "data": {
            "caseId": "h",
            "status": ["not", "a", "string"],
            "inputRequestId": {"x": 1},
            "attemptCount": "three",
            "metadata": "nope",
            "result": "<script>alert(1)</script>",
        },
    }
    r = client.post("/webhooks/offload", json=body)
    assert r.status_code == 200
