"""The New case page's form state without Streamlit (dashboard/new_case_view.py)."""

from dashboard.new_case_view import (
    add_field,
    batch_preview,
    current_problems,
    form_state,
    pairs_rows,
    pairs_text,
    prepare,
    schema_json_typed,
)
from offload_console.case_form import DEFAULTS, build_body
from offload_console.templates import W9_TEMPLATE


def test_a_first_visit_starts_a_new_form_and_a_loaded_body_replaces_it():
    state = {}
    prepare(state)
    assert state["nc_ver"] == 1 and state["nc_channel"] == "EMAIL"
    assert state["nc_has_schema"] is False
    state["nc_load"] = W9_TEMPLATE
    prepare(state)
    assert "nc_load" not in state and state["nc_ver"] == 2  # editors start afresh
    assert state["nc_has_schema"] is True
    assert state["nc_schema"] == W9_TEMPLATE["resultSchema"]


def test_form_state_drops_the_scenario_outside_sandbox_mode():
    state = {}
    prepare(state)
    state["nc_scenario"] = "input_needed"
    assert form_state(state, sandbox=True)["scenario"] == "input_needed"
    assert form_state(state, sandbox=False)["scenario"] is None
    assert form_state(state, sandbox=True)["result_schema"] is None  # toggle off


def test_problems_include_the_json_views_own_error():
    state = {}
    prepare(state)
    assert "objective" in current_problems(state, sandbox=True)
    state["nc_load"] = W9_TEMPLATE
    prepare(state)
    assert current_problems(state, sandbox=True) == {}
    state["nc_schema_json"] = "{not json"
    schema_json_typed(state)
    assert current_problems(state, sandbox=True)["result_schema"].startswith("Not valid JSON")


def test_typed_json_becomes_the_schema_only_when_it_is_an_object():
    state = {}
    prepare(state)
    before = state["nc_ver"]
    state["nc_schema_json"] = "[1, 2]"
    schema_json_typed(state)
    assert state["nc_schema_json_error"] == "The schema must be a JSON object."
    assert state["nc_ver"] == before
    state["nc_schema_json"] = '{"type": "object", "properties": {"a": {"type": ["null", "x"]}}}'
    schema_json_typed(state)
    assert "nc_schema_json_error" not in state and state["nc_ver"] == before + 1
    assert state["nc_schema"]["properties"]["a"]["type"] == ["null", "x"]  # kept exactly


def test_key_value_lines_keep_every_character_typed_and_round_trip():
    text = "vendor_id: V-7781\n\n  url : https://x.example/a:b  \nno colon here\n: orphan"
    rows = pairs_rows(text)
    assert rows == [
        {"key": "vendor_id", "value": "V-7781"},
        {"key": "url", "value": "https://x.example/a:b"},  # the value keeps its colons
        {"key": "", "value": "no colon here"},  # a value without a key: the check says so
        {"key": "", "value": "orphan"},
    ]
    assert pairs_rows(pairs_text(rows[:2])) == rows[:2]
    form = {**DEFAULTS, "cp_custom": rows}
    _, errors = build_body(form)
    assert errors["cp_custom"] == "every value needs a key"  # said once


def test_batch_preview_names_each_row_and_its_problems_in_words():
    bodies = [
        ({"clientReferenceId": "v1", "counterparty": {"address": "a@b.example"}}, {}),
        ({"goal": {"objective": "W-9"}}, {"cp_address": "required"}),
    ]
    rows = batch_preview(bodies)
    assert [r["row"] for r in rows] == [1, 2]
    assert rows[0]["counterparty"] == "a@b.example" and rows[0]["problems"] == ""
    assert rows[1]["objective"] == "W-9" and "cp_address" not in rows[1]["problems"]
    assert rows[1]["problems"].endswith(": required")


def test_a_field_is_added_by_name_and_type_or_refused_with_why():
    state = {"nc_schema": {"type": "object", "properties": {}}, "nc_ver": 3}
    add_field(state)
    assert state["nc_new_field_error"] == "Type the new field's name first."
    state.update(nc_new_field=" taxId ", nc_new_field_type="string")
    add_field(state)
    assert state["nc_schema"]["properties"] == {"taxId": {"type": "string"}}
    assert '"taxId"' in state["nc_schema_json"] and state["nc_ver"] == 4
    assert state["nc_new_field"] == "" and "nc_new_field_error" not in state
    state.update(nc_new_field="taxId", nc_new_field_type="boolean")
    add_field(state)
    assert state["nc_new_field_error"] == "There is a field called 'taxId' already."
    assert state["nc_schema"]["properties"] == {"taxId": {"type": "string"}}
