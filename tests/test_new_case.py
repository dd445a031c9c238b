"""The New case page: form validation, schema table ⇄ JSON, templates, double submit, CSV."""

import copy
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

import storage
from offload_client import OffloadClient
from offload_console.case_form import (
    DEFAULTS,
    body_for_duplicate,
    build_body,
    curl_for,
    fill,
    form_from_body,
    placeholders,
    plan_batch,
    submission_id_for,
)
from offload_console.outbox import submit_case
from offload_console.schema_tools import (
    apply_table_edits,
    example_for_schema,
    schema_problems,
    table_from_schema,
)
from offload_console.templates import W9_TEMPLATE
from tests.helpers import ROOT, SANDBOX_KEY, ServerProcess, free_port

APP = str(ROOT / "dashboard" / "app.py")
NESTED = {
    "type": "object",
    "properties": {
        "signedW9Received": {"type": "boolean", "description": "Got it?"},
        "taxId": {"type": "string", "pattern": "^[0-9]{2}-[0-9]{7}$"},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
        "kind": {"type": "string", "enum": ["LLC", "C corp"]},
    },
    "required": ["signedW9Received", "address"],
    "additionalProperties": False,
}


def valid_form(**overrides):
    return {**form_from_body(W9_TEMPLATE), **overrides}


def test_w9_template_round_trips_through_the_form():
    body, errors = build_body(form_from_body(W9_TEMPLATE))
    assert errors == {}
    assert body == W9_TEMPLATE


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"objective": "  "}, "objective"),
        ({"cp_address": ""}, "cp_address"),
        ({"cp_address": "not-an-email"}, "cp_address"),
        ({"cp_name": ""}, "cp_name"),
        ({"sp_name": ""}, "sp_name"),
        ({"max_attempts": -1}, "max_attempts"),
        ({"follow_up_delay_hours": 0}, "follow_up_delay_hours"),
        ({"cp_timezone": "Mars/Olympus"}, "cp_timezone"),
        ({"cp_custom": [{"key": "", "value": "x"}]}, "cp_custom"),
        ({"metadata": "{not json"}, "metadata"),
        ({"metadata": "[1, 2]"}, "metadata"),
        ({"webhook_url": "ftp://x"}, "webhook_url"),
        ({"result_schema": {"type": "nonsense"}}, "result_schema"),
        ({"knowledge_rows": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]}, "knowledge"),
    ],
)
def test_each_problem_is_reported_at_its_field(overrides, field):
    _, errors = build_body(valid_form(**overrides))
    assert set(errors) == {field}


def test_sms_takes_any_address_and_scenario_goes_to_metadata():
    body, errors = build_body(
        valid_form(
            channel="SMS",
            cp_address="+15551234567",
            scenario="input_needed",
            metadata='{"team": "AP"}',
        )
    )
    assert errors == {}
    assert body["metadata"] == {"team": "AP", "sandboxScenario": "input_needed"}


def test_schema_table_edit_changes_only_the_edited_rows_shown_keys():
    rows = table_from_schema(NESTED)
    assert [r["name"] for r in rows] == ["signedW9Received", "taxId", "address", "kind"]
    assert rows[2]["more in JSON"] == "properties, required"
    edits = {
        "edited_rows": {1: {"required": True}, 3: {"allowed values": ["LLC", "S corp, Inc."]}},
        "added_rows": [{"name": "documentUrl", "type": "string"}],
        "deleted_rows": [],
    }
    edited, notes = apply_table_edits(NESTED, rows, edits)
    assert notes == []
    assert edited["properties"]["taxId"] == NESTED["properties"]["taxId"]
    assert edited["required"] == ["signedW9Received", "address", "taxId"]
    assert edited["properties"]["kind"]["enum"] == ["LLC", "S corp, Inc."]  # comma kept whole
    assert edited["properties"]["documentUrl"] == {"type": "string"}
    assert edited["properties"]["address"] == NESTED["properties"]["address"]
    assert edited["additionalProperties"] is False
    assert schema_problems(edited) == []
    renamed, _ = apply_table_edits(NESTED, rows, {"edited_rows": {0: {"name": "gotW9"}}})
    assert list(renamed["properties"]) == ["gotW9", "taxId", "address", "kind"]
    assert renamed["required"] == ["gotW9", "address"]
    dropped, _ = apply_table_edits(NESTED, rows, {"deleted_rows": [2]})
    assert "address" not in dropped["properties"] and dropped["required"] == ["signedW9Received"]


# What the issue found rewritten: each typed in the JSON must stay exactly as typed.
TYPED_IN_JSON = [
    {"type": "object", "properties": {"note": {"type": ["string", "null"]}}},
    {"type": "object", "properties": {"level": {"type": "integer", "enum": [1, 2, 3]}}},
    {"type": "object", "properties": {"name": {"type": "string", "enum": ["Acme, Inc.", "B"]}}},
    {"type": "object", "properties": {"id": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}},
    {"type": "object", "properties": {"x": {"type": "strin"}}},
    {"type": "object", "properties": {"y": {"$ref": "#/$defs/y"}}, "$defs": {"y": {}}},
    {"type": "object", "properties": {"z": {"description": "no type at all"}}},
]


@pytest.mark.parametrize("schema", TYPED_IN_JSON)
def test_schema_typed_in_json_is_kept_exactly_until_a_row_is_edited(schema):
    rows = table_from_schema(schema)
    assert apply_table_edits(schema, rows, {})[0] == schema
    assert apply_table_edits(schema, rows, {"edited_rows": {}, "added_rows": []})[0] == schema


@pytest.mark.parametrize("schema", TYPED_IN_JSON[:2] + TYPED_IN_JSON[3:6])
def test_schema_row_the_table_cannot_show_is_locked_not_coerced(schema):
    rows = table_from_schema(schema)
    assert rows[0]["edit in JSON"]
    edited, notes = apply_table_edits(schema, rows, {"edited_rows": {0: {"type": "string"}}})
    assert edited == schema
    assert notes and "only be changed in the JSON" in notes[0]


def test_schema_typo_reaches_the_meta_schema_check():
    problems = schema_problems(TYPED_IN_JSON[4])
    assert problems and problems[0].startswith("properties/x/type")


def test_meta_schema_problems_say_where():
    problems = schema_problems({"type": "object", "properties": {"a": {"type": 5}}})
    assert problems and problems[0].startswith("properties/a/type")


def test_example_result_satisfies_nested_schema():
    import jsonschema

    jsonschema.validate(example_for_schema(NESTED), NESTED)


SHOWN_KEYS = {"type", "description", "enum"}
names = st.sampled_from(["a", "b", "taxId", "Acme, Inc.", "with space", "_x"])
subschemas = st.recursive(
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(
                ["string", "number", "integer", "boolean", "array", "object", ["string", "null"]]
            ),
            "description": st.text(max_size=12),
            "enum": st.lists(
                st.one_of(st.text(max_size=8), st.integers(), st.booleans()),
                min_size=1,
                max_size=4,
                unique_by=lambda v: (type(v), v),
            ),
            "format": st.sampled_from(["date", "email", "uri"]),
            "pattern": st.sampled_from(["^[0-9]+$", "^a"]),
            "minimum": st.integers(0, 5),
        },
    ),
    lambda children: st.one_of(
        st.fixed_dictionaries({"anyOf": st.lists(children, min_size=1, max_size=2)}),
        st.fixed_dictionaries(
            {"type": st.just("object"), "properties": st.dictionaries(names, children, max_size=2)}
        ),
    ),
    max_leaves=4,
)
schemas = st.builds(
    lambda props, required, extra: {
        "type": "object",
        "properties": props,
        **({"required": [n for n in props if n in required]} if required else {}),
        **extra,
    },
    st.dictionaries(names, subschemas, max_size=5),
    st.sets(names, max_size=3),
    st.fixed_dictionaries({}, optional={"additionalProperties": st.booleans()}),
)


@given(schemas)
def test_schema_json_to_table_to_json_without_edit_is_equal(schema):
    assert schema_problems(schema) == []
    assert apply_table_edits(schema, table_from_schema(schema), {})[0] == schema


@given(
    schemas,
    st.data(),
)
def test_schema_one_row_edit_changes_only_that_rows_shown_keys(schema, data):
    rows = table_from_schema(schema)
    open_rows = [i for i, r in enumerate(rows) if not r["edit in JSON"]]
    if not open_rows:
        return
    index = data.draw(st.sampled_from(open_rows))
    column, value = data.draw(
        st.one_of(
            st.tuples(st.just("type"), st.sampled_from(["string", "integer", "object"])),
            st.tuples(st.just("description"), st.text(min_size=1, max_size=8)),
            st.tuples(st.just("allowed values"), st.lists(st.text(min_size=1), max_size=3)),
            st.tuples(st.just("required"), st.booleans()),
        )
    )
    edited, notes = apply_table_edits(schema, rows, {"edited_rows": {index: {column: value}}})
    assert notes == []
    name = rows[index]["name"]
    for other, sub in schema["properties"].items():
        if other != name:
            assert edited["properties"][other] == sub
    before = {k: v for k, v in schema["properties"][name].items() if k not in SHOWN_KEYS}
    after = {k: v for k, v in edited["properties"][name].items() if k not in SHOWN_KEYS}
    assert after == before
    assert {k: v for k, v in edited.items() if k not in ("properties", "required")} == {
        k: v for k, v in schema.items() if k not in ("properties", "required")
    }
    others = [r for r in schema.get("required", []) if r != name]
    assert [r for r in edited.get("required", []) if r != name] == others


def test_curl_masks_the_key():
    text = curl_for(W9_TEMPLATE, "http://127.0.0.1:8788")
    assert '-H "x-api-key: $OFFLOAD_API_KEY"' in text and "sandbox-local-key" not in text


def test_same_body_same_form_same_submission():
    a = submission_id_for("n1", W9_TEMPLATE)
    assert a == submission_id_for("n1", copy.deepcopy(W9_TEMPLATE))
    assert a != submission_id_for("n2", W9_TEMPLATE)
    assert a != submission_id_for("n1", {**W9_TEMPLATE, "clientReferenceId": "other"})


def test_placeholders_fill_and_batch_plan():
    template = copy.deepcopy(W9_TEMPLATE)
    template["clientReferenceId"] = "{{ref}}"
    template["counterparty"] = {"address": "{{email}}", "name": "{{name}}"}
    assert placeholders(template) == {"ref", "email", "name"}
    assert fill({"a": ["x {{ref}} y"]}, {"ref": "R1"}) == {"a": ["x R1 y"]}
    raw = b"ref,email,name\nv1,a@x.example,Ann\nv2,not-an-email,Bob\n"
    plan = plan_batch(template, raw)
    assert plan.missing == [] and len(plan.rows) == 2
    assert plan.rows[0][1] == {} and "cp_address" in plan.rows[1][1]
    assert plan_batch(template, b"ref,email\nv1,a@x.example\n").missing == ["name"]
    assert plan_batch(template, b"\xff\xfe\x00").error
    assert plan_batch(template, raw).batch == plan.batch


def test_duplicate_uses_the_request_sent():
    case = {"request": json.dumps({**W9_TEMPLATE, "clientWebhookUrl": "http://x/hook"})}
    assert body_for_duplicate(case) == W9_TEMPLATE
    learned = body_for_duplicate(
        {
            "objective": "Get W-9",
            "counterparty_address": "a@b.example",
            "counterparty_name": "A",
            "result_schema": json.dumps(NESTED),
        }
    )
    assert learned["goal"]["objective"] == "Get W-9" and learned["resultSchema"] == NESTED


# -- the page in AppTest -------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox_server():
    server = ServerProcess(["sandbox", "--api-key", SANDBOX_KEY, "--hour-seconds", "100"])
    server.start(free_port())
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server, db_path, monkeypatch):
    """The module's sandbox (slow hours: its cases stay where they are) and a database of the
    test's own."""
    server = sandbox_server
    monkeypatch.setenv("OFFLOAD_BASE_URL", server.url)
    monkeypatch.setenv("OFFLOAD_API_KEY", SANDBOX_KEY)
    monkeypatch.setenv("OFFLOAD_CONSOLE_MODE", "sandbox")
    monkeypatch.setenv("OFFLOAD_CONSOLE_DB", db_path)
    # Its webhooks go nowhere (a free port nobody listens on), never to a running console.
    monkeypatch.setenv(
        "OFFLOAD_PUBLIC_WEBHOOK_URL", f"http://127.0.0.1:{free_port()}/webhooks/offload"
    )
    return server


def open_page(**state):
    at = AppTest.from_file(APP, default_timeout=30)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    at.switch_page("app_pages/new_case.py").run()
    assert not at.exception, at.exception
    return at


def errors_of(at):
    return " ".join(e.value for e in at.error)


def test_empty_form_shows_each_problem_and_sends_nothing(sandbox, db_path):
    at = open_page(operator_name="Avery")
    at.button(key="nc_send").click().run()
    text = errors_of(at)
    assert "Objective: Say what the case should achieve." in text
    assert "Counterparty address" in text and "Sender name" in text
    at_field = [e.value for e in at.error]
    assert "Say what the case should achieve." in at_field  # at the field itself
    assert storage.open_db(db_path)["submissions"].count == 0
    at.text_input(key="nc_objective").input("Collect a W-9").run()
    assert "Say what the case should achieve." not in [e.value for e in at.error]
    at.text_input(key="nc_cp_address").input("not-an-email")
    at.button(key="nc_send").click().run()  # typed and clicked in one go: the click sees it
    assert "This is not an e-mail address (name@example.com)." in [e.value for e in at.error]


def test_template_load_send_twice_makes_one_case_then_save_and_delete(sandbox, db_path):
    at = open_page(operator_name="Avery")
    at.button(key="nc_template_load").click().run()
    assert at.text_input(key="nc_objective").value == "Collect a signed W-9 from the vendor"
    at.button(key="nc_send").click().run()
    assert not at.exception
    assert any("Case created." in s.value for s in at.success)
    at.button(key="nc_send").click().run()  # the double click
    assert any("no second case" in s.value for s in at.success)
    db = storage.open_db(db_path)
    assert db["cases"].count == 1 and db["submissions"].count == 1
    case = next(db.query("SELECT * FROM cases"))
    assert json.loads(case["request"])["metadata"]["consoleSubmissionId"]
    with OffloadClient(sandbox.url, SANDBOX_KEY) as client:
        assert client.get_case(case["case_id"]).client_reference_id == "vendor_2048"
    # template round trip
    at.text_input(key="nc_objective").input("Collect a W-8BEN").run()
    at.text_input(key="nc_template_name").input("W-8").run()
    at.button(key="nc_template_save").click().run()
    assert db["case_templates"].get("W-8")["name"] == "W-8"
    at.selectbox(key="nc_template_choice").select("W-8").run()
    at.text_input(key="nc_objective").input("changed").run()
    at.button(key="nc_template_load").click().run()
    assert at.text_input(key="nc_objective").value == "Collect a W-8BEN"
    at.button(key="nc_template_delete").click().run()
    assert db["case_templates"].count == 0


def test_offload_refusal_keeps_the_form(sandbox, db_path, monkeypatch):
    monkeypatch.setenv("OFFLOAD_API_KEY", "wrong-key")  # Offload answers 401
    at = open_page(operator_name="Avery")
    at.button(key="nc_template_load").click().run()
    at.button(key="nc_send").click().run()
    assert "Offload did not create the case" in errors_of(at)
    assert any("UNAUTHORIZED" in c.value and "OFFLOAD_API_KEY" in c.value for c in at.code)
    assert at.text_input(key="nc_objective").value == "Collect a signed W-9 from the vendor"
    row = next(storage.open_db(db_path).query("SELECT * FROM submissions"))
    assert (row["status"], row["error_code"]) == ("FAILED", "UNAUTHORIZED")
    assert "wrong-key" not in " ".join(c.value for c in at.code)


def test_schema_json_edit_updates_example_and_reports_bad_json(sandbox):
    at = open_page(operator_name="Avery")
    at.toggle(key="nc_has_schema").set_value(True).run()
    at.text_area(key="nc_schema_json").input(json.dumps(NESTED)).run()
    assert not at.exception
    example = json.loads(
        next(
            c.value
            for c in at.code
            if '"address"' in c.value and "curl" not in c.value and "properties" not in c.value
        )
    )
    assert example["address"] == {"city": "example city"} and example["kind"] == "LLC"
    at.text_area(key="nc_schema_json").input("{broken").run()
    assert "Not valid JSON" in " ".join(c.value for c in at.code)


def test_duplicate_from_timeline_fills_the_form(sandbox, db_path):
    db = storage.open_db(db_path)
    with OffloadClient(sandbox.url, SANDBOX_KEY) as client:
        body = {**W9_TEMPLATE, "clientReferenceId": "dup_me"}
        case_id = submit_case(db, client, body, actor="t").case_id
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.switch_page("app_pages/case.py")
    at.query_params["case"] = case_id
    at.run()
    at.button(key="duplicate_case").click().run()
    assert not at.exception, at.exception
    assert at.text_input(key="nc_client_reference_id").value == "dup_me"


def test_defaults_cover_every_field():
    assert set(form_from_body(W9_TEMPLATE)) == set(DEFAULTS)


def test_schema_table_edit_updates_the_json(sandbox):
    at = open_page(operator_name="Avery")
    at.toggle(key="nc_has_schema").set_value(True).run()
    ver = at.session_state["nc_ver"]
    at.session_state[f"nc_schema_table_{ver}"] = {
        "edited_rows": {},
        "added_rows": [{"name": "taxId", "type": "string", "required": True}],
        "deleted_rows": [],
    }
    at.run()
    assert not at.exception, at.exception
    schema = json.loads(at.text_area(key="nc_schema_json").value)
    assert schema["properties"]["taxId"] == {"type": "string"}
    assert schema["required"] == ["taxId"]


def test_added_knowledge_row_stays_single_across_reruns(sandbox):
    at = open_page(operator_name="Avery")
    ver = at.session_state["nc_ver"]
    at.text_area(key=f"nc_knowledge_rows_text_{ver}").input("vendorName: Northstar").run()
    at.run()
    at.run()
    assert at.session_state["nc_knowledge_rows"] == [{"key": "vendorName", "value": "Northstar"}]


@pytest.mark.parametrize(
    "field, typed, message",
    [
        ("nc_max_attempts", "-2", "A whole number, 0 or more; '-2' is not."),
        ("nc_follow_up_delay_hours", "2.5", "A whole number of hours, 1 or more; '2.5' is not."),
        ("nc_follow_up_delay_hours", "0", "A whole number of hours, 1 or more; '0' is not."),
    ],
)
def test_number_field_keeps_what_it_shows_and_says_what_is_wrong(
    sandbox, db_path, field, typed, message
):
    """Defect 4: a value that is not allowed is an error at the field and in the list above
    Send; the form never keeps another value than the one shown."""
    at = open_page(operator_name="Avery", nc_load=W9_TEMPLATE)
    at.text_input(key=field).input(typed).run()
    assert at.text_input(key=field).value == typed
    at.button(key="nc_send").click().run()
    shown = [e.value for e in at.error]
    assert message in shown  # at the field
    assert any(e.endswith(message) and ": " in e for e in shown)  # in the list above Send
    assert storage.open_db(db_path)["submissions"].count == 0


def test_schema_typed_in_json_reaches_the_body_exactly(sandbox, db_path):
    """Defect 3 through the page: the JSON typed is the schema sent; a locked row's table
    edit is refused and said, the JSON unchanged."""
    typed = {
        "type": "object",
        "properties": {
            "note": {"type": ["string", "null"]},
            "level": {"type": "integer", "enum": [1, 2, 3]},
            "name": {"type": "string", "enum": ["Acme, Inc.", "Other"]},
            "id": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        },
        "required": ["note"],
    }
    at = open_page(operator_name="Avery", nc_load=W9_TEMPLATE)
    at.text_area(key="nc_schema_json").input(json.dumps(typed)).run()
    assert not at.exception, at.exception
    assert at.session_state["nc_schema"] == typed
    ver = at.session_state["nc_ver"]
    at.session_state[f"nc_schema_table_{ver}"] = {
        "edited_rows": {0: {"type": "string"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert at.session_state["nc_schema"] == typed
    assert any("note can only be changed in the JSON" in t.value for t in at.text)
    at.text_area(key="nc_schema_json").input(
        json.dumps({**typed, "properties": {"x": {"type": "strin"}}})
    ).run()
    at.button(key="nc_send").click().run()
    assert any("properties/x/type" in e.value for e in at.error)  # the typo is not coerced
    assert storage.open_db(db_path)["submissions"].count == 0
    at.text_area(key="nc_schema_json").input(json.dumps(typed)).run()
    at.button(key="nc_send").click().run()
    assert "Case created." in [s.value for s in at.success]
    sent = json.loads(storage.open_db(db_path)["submissions"].rows.__next__()["request"])
    assert sent["resultSchema"] == typed


def test_placeholders_read_as_hints():
    source = (ROOT / "dashboard" / "app_pages" / "new_case.py").read_text()
    import re

    for placeholder in re.findall(r'placeholder="([^"]*)"', source):
        assert placeholder.startswith(("e.g.", "empty:", "Search", "complete (default)")), (
            placeholder
        )


def test_a_case_carries_its_own_answer_window_in_its_metadata():
    from offload_console.case_form import DEFAULTS, build_body, form_from_body
    from offload_console.templates import W9_TEMPLATE

    form = {**form_from_body(W9_TEMPLATE), "answer_within": " 90M "}
    body, problems = build_body(form)
    assert problems == {} and body["metadata"]["consoleAnswerWithin"] == "90m"
    assert form_from_body(body)["answer_within"] == "90m"  # a duplicate keeps it
    _, problems = build_body({**form, "answer_within": "soon"})
    assert "not a duration" in problems["answer_within"]
    assert DEFAULTS["answer_within"] == ""


@pytest.mark.parametrize(
    "items",
    [
        {"type": "array", "minItems": 3_000_000, "items": {"type": "string", "minLength": 10**9}},
        {"type": "array", "minItems": "abc", "items": {"type": "integer", "minimum": "x"}},
        {
            "type": "array",
            "minItems": 1000,
            "items": {
                "type": "array",
                "minItems": 1000,
                "items": {"type": "array", "minItems": 1000},
            },
        },
    ],
    ids=["three-million", "wrong-types", "nested"],
)
def test_duplicating_a_case_with_an_outside_schema_is_bounded(env_db, items):
    """Issue 23, defect 9 (fails on the main before it: a 51 MB example, or an error page).
    A case learned from Offload carries its own resultSchema; its example stays small and
    the New case page draws."""
    from tests.helpers import store, webhook

    schema = {"type": "object", "properties": {"xs": items}, "required": ["xs"]}
    assert len(json.dumps(example_for_schema(schema))) < 100_000
    store(env_db, webhook("c-outside", "case.completed", 1000, result={}))
    with env_db.atomic():
        env_db.execute(
            "UPDATE cases SET result_schema = ? WHERE case_id = 'c-outside'", [json.dumps(schema)]
        )
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.switch_page("app_pages/case.py")
    at.query_params["case"] = "c-outside"
    at.run()
    at.button(key="duplicate_case").click().run()
    assert not at.exception, at.exception
    shown = "".join(c.value for c in at.code)
    assert "xs" in shown and len(shown) < 200_000


def test_a_batch_launch_sends_each_good_row_once_and_skips_the_rest(sandbox, db_path):
    """The New case page's launch loop, without Streamlit: rows with problems are skipped,
    the others go through the outbox, and the same plan sent again makes no second case."""
    from offload_console.outbox import launch_batch

    template = copy.deepcopy(W9_TEMPLATE)
    template["clientReferenceId"] = "{{ref}}"
    template["counterparty"] = {"address": "{{email}}", "name": "{{name}}"}
    plan = plan_batch(template, b"ref,email,name\nb1,a@x.example,Ann\nb2,not-an-email,Bob\n")
    db = storage.open_db(db_path)
    seen = []
    with OffloadClient(sandbox.url, SANDBOX_KEY) as client:
        first = launch_batch(
            db,
            client,
            plan.rows,
            plan.submission_id,
            actor="t",
            progress=lambda d, t: seen.append((d, t)),
        )
        again = launch_batch(db, client, plan.rows, plan.submission_id, actor="t")
    assert [r.status for r in first] == ["SENT", "SKIPPED"] and seen == [(1, 2), (2, 2)]
    assert [r.note for r in again] == ["already sent", ""]
    assert db["submissions"].count == 1
