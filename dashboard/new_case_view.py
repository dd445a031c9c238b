"""The New case page's form state, as plain functions over a dict-like ``state`` (the page
passes ``st.session_state``; tests pass a dict). Widget keys are ``nc_<field>``."""

from __future__ import annotations

import json
from typing import Any

from offload_console.case_form import DEFAULTS, FIELD_LABELS, build_body, form_from_body

EMPTY_SCHEMA = {"type": "object", "properties": {}}
NEW_FORM = {"channel": "EMAIL", "maxAttempts": 3, "followUpDelayHours": 72}


def schema_text(schema: dict) -> str:
    """The schema as the JSON view shows it."""
    return json.dumps(schema, indent=2, ensure_ascii=False)


def load_form(state, body: dict) -> None:
    """Put a case body into the form's widgets (before they are drawn); the editors start
    afresh (a new form version)."""
    form = form_from_body(body)
    for field, value in form.items():
        state[f"nc_{field}"] = value
    state["nc_has_schema"] = form["result_schema"] is not None
    state["nc_schema"] = form["result_schema"] or dict(EMPTY_SCHEMA)
    state["nc_schema_json"] = schema_text(state["nc_schema"])
    state["nc_ver"] = state.get("nc_ver", 0) + 1
    state["nc_show_errors"] = False


def prepare(state) -> None:
    """At the top of each run: a form asked for (template, duplicate) is loaded; a first
    visit starts from a new form."""
    if "nc_load" in state:
        load_form(state, state.pop("nc_load"))
    if "nc_ver" not in state:
        load_form(state, NEW_FORM)


def form_state(state, sandbox: bool) -> dict:
    """The form as the widgets hold it (their values are in state before they draw)."""
    form = {field: state.get(f"nc_{field}", DEFAULTS[field]) for field in DEFAULTS}
    form["result_schema"] = state["nc_schema"] if state.get("nc_has_schema") else None
    if not sandbox:
        form["scenario"] = None
    return form


def current_problems(state, sandbox: bool) -> dict[str, str]:
    """What stops the form from being sent, by field (the JSON view's own error included)."""
    problems = build_body(form_state(state, sandbox))[1]
    if state.get("nc_schema_json_error"):
        problems["result_schema"] = state["nc_schema_json_error"]
    return problems


def schema_json_typed(state) -> None:
    """The operator changed the JSON view: it becomes the schema if it is a JSON object
    (the table then starts again from it); otherwise the error is kept to show."""
    try:
        parsed = json.loads(state["nc_schema_json"])
    except ValueError as exc:
        state["nc_schema_json_error"] = f"Not valid JSON: {exc}"
        return
    if not isinstance(parsed, dict):
        state["nc_schema_json_error"] = "The schema must be a JSON object."
        return
    state.pop("nc_schema_json_error", None)
    state["nc_schema"] = parsed
    state["nc_ver"] += 1


def add_field(state) -> None:
    """The "Add a field" button: a new field of the chosen type in the schema (the table and
    the JSON start again from it), or why not (no name, or a field of that name exists)."""
    name = str(state.get("nc_new_field") or "").strip()
    properties = (state["nc_schema"] or {}).get("properties") or {}
    if not name:
        state["nc_new_field_error"] = "Type the new field's name first."
        return
    if name in properties:
        state["nc_new_field_error"] = f"There is a field called {name!r} already."
        return
    schema = {**(state["nc_schema"] or {"type": "object"})}
    schema["properties"] = {
        **properties,
        name: {"type": state.get("nc_new_field_type") or "string"},
    }
    state.pop("nc_new_field_error", None)
    state["nc_schema"] = schema
    state["nc_schema_json"] = schema_text(schema)
    state["nc_new_field"] = ""
    state["nc_ver"] += 1


def pairs_text(rows: list[dict]) -> str:
    """Key/value rows as the text the operator edits: one ``key: value`` per line."""
    return "\n".join(f"{r.get('key') or ''}: {r.get('value') or ''}" for r in rows or [])


def pairs_rows(text: str) -> list[dict]:
    """The operator's ``key: value`` lines as rows (blank lines left out). A line without a
    colon is a value without a key: the form's check says so before anything is sent."""
    rows = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        rows.append(
            {"key": key.strip(), "value": value.strip()}
            if colon
            else {"key": "", "value": line.strip()}
        )
    return rows


def batch_preview(bodies: list[tuple[dict, dict[str, Any]]]) -> list[dict]:
    """One line per CSV row: which case it makes and what stops it."""
    return [
        {
            "row": number,
            "reference": body.get("clientReferenceId", ""),
            "counterparty": (body.get("counterparty") or {}).get("address", ""),
            "objective": (body.get("goal") or {}).get("objective", ""),
            "problems": "; ".join(f"{FIELD_LABELS.get(k, k)}: {v}" for k, v in problems.items()),
        }
        for number, (body, problems) in enumerate(bodies, start=1)
    ]
