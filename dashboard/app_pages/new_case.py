"""New case: every field Offload takes, a result-schema editor, templates, and launch-many."""

import copy
import json
import secrets

import pandas as pd
import streamlit as st

from dashboard import outside
from dashboard.auth import operator, refused
from dashboard.format import literal, plural
from dashboard.new_case_view import (
    add_field,
    batch_preview,
    current_problems,
    form_state,
    pairs_rows,
    pairs_text,
    prepare,
    schema_json_typed,
    schema_text,
)
from dashboard.session import get_client, get_db
from offload_console import settings
from offload_console.case_form import (
    FIELD_LABELS,
    SANDBOX_SCENARIOS,
    TIMEZONES,
    build_body,
    curl_for,
    placeholders,
    plan_batch,
    submission_id_for,
)
from offload_console.outbox import launch_batch, submit_case
from offload_console.redact import redact
from offload_console.schema_tools import (
    FIELD_TYPES,
    TABLE_COLUMNS,
    apply_table_edits,
    example_for_schema,
    table_from_schema,
)
from offload_console.templates import W9_TEMPLATE
from storage.templates import delete_template, list_templates, save_template

BUILT_IN = "W-9 from the quickstart (built in)"
db = get_db()
ss = st.session_state


prepare(ss)
ss.setdefault("nc_nonce", secrets.token_hex(8))
ver = ss["nc_ver"]
sandbox = settings.is_sandbox_mode()

st.title("New case")
st.caption(
    "Everything Offload's POST /cases takes. Nothing is sent until you press Send; "
    "a failed send keeps the form as it is."
)


# After a Send with problems, each message shows at its field.
shown_problems = current_problems(ss, sandbox) if ss.get("nc_show_errors") else {}


def field_error(field: str, where=st) -> None:
    message = shown_problems.get(field)  # the console's words (with what the operator typed)
    if message:
        where.error(message, icon=":material/error:")


def key_value_editor(field: str, label: str) -> None:
    """Key/value pairs for the form field ``field`` (a list of {key, value} rows), typed as
    ``key: value`` lines. A text box, not a table: a table's cell typed while the page
    redrew after the cell before lost its text (issue 31), and a box keeps every character.
    Its key carries the form version, so loading a template starts it afresh."""
    key = f"nc_{field}_text_{ss['nc_ver']}"
    if key not in ss:
        ss[key] = pairs_text(ss[f"nc_{field}"])
    st.text_area(
        label,
        key=key,
        height=100,
        placeholder="e.g. vendor_id: V-7781",
        help="One `key: value` per line; the value may contain colons. Text values only.",
    )
    ss[f"nc_{field}"] = pairs_rows(ss[key])


# -- templates ---------------------------------------------------------------------------
saved = {t["name"]: t for t in list_templates(db)}
with st.expander("Templates", icon=":material/bookmarks:"):
    if "nc_flash" in ss:
        st.success("Template saved:")
        outside.text(ss.pop("nc_flash"))
    t1, t2 = st.columns(2)
    choice = t1.selectbox("Template", [BUILT_IN, *saved], key="nc_template_choice")
    if t1.button("Load into the form", key="nc_template_load"):
        ss["nc_load"] = W9_TEMPLATE if choice == BUILT_IN else saved[choice]["body"]
        st.rerun()
    if choice in saved and t1.button(
        "Delete this template", key="nc_template_delete", disabled=operator() is None
    ):
        if words := refused("templates"):
            st.error(literal(words))
        else:
            delete_template(db, choice, operator())
            st.rerun()
    name = t2.text_input(
        "Save the form as", key="nc_template_name", placeholder="e.g. W-9, AP team"
    )
    if t2.button("Save template", key="nc_template_save", disabled=operator() is None):
        body, _ = build_body(form_state(ss, sandbox))
        if not name.strip():
            st.error("Give the template a name.")
        elif name.strip() == BUILT_IN:
            st.error("That name is the built-in template's.")
        elif words := refused("templates"):
            st.error(literal(words))
        else:
            save_template(db, name.strip(), body, operator())
            ss["nc_flash"] = name.strip()
            st.rerun()

# -- the form ----------------------------------------------------------------------------
st.subheader("Case")
c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
c1.text_input(
    "Client reference (your own id)", key="nc_client_reference_id", placeholder="e.g. vendor_2048"
)
c2.radio("Channel", ["EMAIL", "SMS"], key="nc_channel", horizontal=True)
# Text, not number inputs: a number input shows what was typed while keeping its last valid
# value; here the form holds exactly what is shown and says when it is not allowed.
c3.text_input("Follow-ups (maxAttempts)", key="nc_max_attempts", help="A whole number, 0 or more")
c4.text_input(
    "Hours between follow-ups", key="nc_follow_up_delay_hours", help="A whole number, 1 or more"
)
field_error("max_attempts", c3)
field_error("follow_up_delay_hours", c4)
if ss["nc_channel"] == "SMS":
    st.info("Offload accepts SMS cases but works only EMAIL today.")

st.text_input(
    "Objective", key="nc_objective", placeholder="e.g. Collect a signed W-9 from the vendor"
)
field_error("objective")
st.radio(
    "Knowledge the agent may use",
    ["table", "text"],
    key="nc_knowledge_mode",
    horizontal=True,
    format_func={"table": "Key: value lines", "text": "Free text"}.get,
)
if ss["nc_knowledge_mode"] == "table":
    key_value_editor("knowledge_rows", "Knowledge (one key: value per line)")
else:
    st.text_area("Knowledge (free text)", key="nc_knowledge_text")
field_error("knowledge")

st.subheader("Counterparty")
p1, p2, p3, p4 = st.columns(4)
p1.text_input("Address (e-mail)", key="nc_cp_address", placeholder="e.g. ap@northstar.example")
p2.text_input("Name", key="nc_cp_name", placeholder="e.g. Maya Chen")
p3.text_input("Company", key="nc_cp_company")
p4.selectbox(
    "Time zone",
    TIMEZONES,
    index=None,
    key="nc_cp_timezone",
    placeholder="Search, e.g. America/Los_Angeles",
)
field_error("cp_address", p1)
field_error("cp_name", p2)
field_error("cp_timezone", p4)
with st.expander("Custom data (text values only)"):
    key_value_editor("cp_custom", "Custom data (one key: value per line)")
field_error("cp_custom")

st.subheader("Writing as")
s1, s2, s3, s4 = st.columns(4)
s1.text_input("Sender name", key="nc_sp_name", placeholder="e.g. Avery")
s2.text_input("Role", key="nc_sp_role", placeholder="e.g. Accounts Payable")
s3.text_input("Company", key="nc_sp_company", placeholder="e.g. Offload Customer Inc.")
s4.text_input("Tone", key="nc_sp_tone", placeholder="e.g. friendly, concise")
field_error("sp_name", s1)
st.text_area(
    "Constraints (one per line)",
    key="nc_constraints",
    height=80,
    placeholder="e.g.\nEmail only\nDo not mention legal action",
)

# -- result schema -----------------------------------------------------------------------
st.subheader("Result")
st.toggle("Ask for a structured result (JSON Schema)", key="nc_has_schema")
if ss["nc_has_schema"]:
    # The editor's edits are positions in the table it was first given: keep that base (and
    # the schema it came from) fixed for this version of the form.
    base_key = f"nc_schema_base_{ver}"
    ss.setdefault(base_key, copy.deepcopy(ss["nc_schema"]))
    base_rows = table_from_schema(ss[base_key])
    editor_key = f"nc_schema_table_{ver}"
    # The table, then the JSON, each the page's full width (side by side the table's
    # columns were cut off).
    st.caption(
        "Fields. A table edit changes only that field's shown keys; formats, patterns and "
        "nested objects stay as the JSON has them. Rows marked *edit in JSON* are locked."
    )
    st.data_editor(
        pd.DataFrame(base_rows, columns=[*TABLE_COLUMNS, "more in JSON"]),
        column_order=[
            "name",
            "type",
            "required",
            "allowed values",
            "description",
            "edit in JSON",
            "more in JSON",
        ],
        # Fields are edited and deleted here, added below: a row appended by typing lost
        # the name typed into it when the page redrew (issue 31).
        num_rows="delete",
        key=editor_key,
        hide_index=True,
        width="stretch",
        column_config={
            "name": st.column_config.TextColumn(required=True),
            "type": st.column_config.SelectboxColumn(options=FIELD_TYPES, default="string"),
            "required": st.column_config.CheckboxColumn(default=False),
            "allowed values": st.column_config.ListColumn(
                help="Text values only; each value is kept whole, commas included"
            ),
            "edit in JSON": st.column_config.TextColumn(disabled=True),
            "more in JSON": st.column_config.TextColumn(disabled=True),
        },
    )
    from_table, edits_refused = apply_table_edits(ss[base_key], base_rows, ss.get(editor_key))
    if edits_refused:
        # Show the table as the schema really is: start it again from the schema.
        ss["nc_schema_refused"] = edits_refused
        ss["nc_schema"] = from_table
        ss["nc_schema_json"] = schema_text(from_table)
        ss["nc_ver"] += 1
        st.rerun()
    if from_table != ss["nc_schema"]:
        ss["nc_schema"] = from_table
        ss["nc_schema_json"] = schema_text(from_table)
    a1, a2, a3 = st.columns([3, 2, 1.2], vertical_alignment="bottom")
    a1.text_input("New field", key="nc_new_field", placeholder="e.g. taxId")
    a2.selectbox("Its type", FIELD_TYPES, key="nc_new_field_type")
    a3.button("Add the field", key="nc_add_field", on_click=add_field, args=(ss,))
    if ss.get("nc_new_field_error"):  # names the operator's own typing: shown as written
        st.warning("Not added:")
        outside.text(ss.pop("nc_new_field_error"))
    for note in ss.pop("nc_schema_refused", []):
        st.warning("Not changed (the JSON is as before):")
        outside.text(note)
    st.text_area(
        "JSON Schema", key="nc_schema_json", height=260, on_change=schema_json_typed, args=(ss,)
    )
    if ss.get("nc_schema_json_error"):
        st.error("The JSON is not a schema yet:")
        st.code(ss["nc_schema_json_error"], language=None, wrap_lines=True)
    st.caption("What will come back, for example:")
    st.code(json.dumps(example_for_schema(ss["nc_schema"]), indent=2), language="json")
field_error("result_schema")

# -- delivery and metadata ---------------------------------------------------------------
st.subheader("Delivery")
d1, d2 = st.columns(2)
d1.text_input(
    "Webhook URL (clientWebhookUrl)",
    key="nc_webhook_url",
    placeholder="empty: the console's own webhook (its secret path is filled in when sending)",
    help="Where Offload reports back. Leave it empty for this console's sidecar.",
)
field_error("webhook_url", d1)
if sandbox:
    d2.selectbox(
        "Sandbox scenario",
        SANDBOX_SCENARIOS,
        index=None,
        key="nc_scenario",
        placeholder="complete (default)",
        help="Sets metadata.sandboxScenario: how the sandbox's counterparty behaves.",
    )
d1.text_input(
    "Answer within",
    key="nc_answer_within",
    placeholder="e.g. 90m, 4h or 2d (empty: the console's default)",
    help="How long this case's questions may wait before they are overdue. Stored in the "
    "case's metadata (consoleAnswerWithin), so it travels with the case.",
)
field_error("answer_within", d1)
st.text_area(
    "Metadata (a JSON object, echoed in webhooks)",
    key="nc_metadata",
    height=80,
    placeholder='e.g. {"team": "AP"}',
)
field_error("metadata")

form = form_state(ss, sandbox)
body, _ = build_body(form)
errors = current_problems(ss, sandbox)

if ss.get("nc_show_errors") and errors:
    st.error("Nothing was sent. Fix these (each is also shown at its field):")
    for field, message in errors.items():
        st.error(f"{FIELD_LABELS.get(field, field)}: {message}", icon=":material/error:")

with st.expander("Preview: the exact request"):
    shown = {
        **body,
        "clientWebhookUrl": body.get("clientWebhookUrl") or settings.public_webhook_url(),
    }
    st.code(redact(json.dumps(shown, indent=2, ensure_ascii=False)), language="json")
    st.code(redact(curl_for(shown, get_client().base_url)), language="bash")
    st.caption("Secrets (the API key, the webhook token) show as •••.")


def send() -> None:
    """Button callback: it runs before the next script run, with every widget's latest value."""
    ss["nc_refused"] = refused("launch")
    if ss["nc_refused"]:  # the form keeps everything typed
        return
    fresh, _ = build_body(form_state(ss, sandbox))
    if current_problems(ss, sandbox):
        ss["nc_show_errors"] = True
        ss["nc_result"] = None
        return
    ss["nc_show_errors"] = False
    # The same form sending the same body again is the same submission: a double click makes
    # one case. A refused send (nothing created) may be retried as a new submission.
    result = submit_case(
        db,
        get_client(),
        fresh,
        actor=operator(),
        submission_id=submission_id_for(ss["nc_nonce"], fresh),
    )
    ss["nc_result"] = result
    if result.status == "FAILED":
        ss["nc_nonce"] = secrets.token_hex(8)


def send_as_new() -> None:
    ss["nc_nonce"] = secrets.token_hex(8)
    send()


st.button(
    "Send to Offload",
    type="primary",
    key="nc_send",
    on_click=send,
    disabled=operator() is None,
    help=None if operator() else "Enter your name in the sidebar first.",
)
if ss.get("nc_refused"):
    st.error(literal(ss["nc_refused"]))
result = ss.get("nc_result")
if result is not None:
    if result.status == "SENT":
        st.success(
            "Case created."
            + (" That was the same submission again: no second case." if result.duplicate else "")
        )
        if result.duplicate:
            st.button("Send this form as another case", key="nc_send_new", on_click=send_as_new)
        st.page_link(
            "app_pages/case.py",
            label="Open the case",
            query_params={"case": result.case_id},
            icon=":material/timeline:",
        )
        outside.text(result.case_id)
    elif result.status == "FAILED":
        st.error("Offload did not create the case. The form is unchanged: fix it and send again.")
        if result.error is not None:
            st.code(f"{result.error}\n{result.error.advice}", language=None, wrap_lines=True)
    else:
        st.warning(
            "Offload did not confirm: the case may or may not exist. Do not resend; it "
            "settles itself when Offload's webhook names it (see Cases, unknown "
            "submissions). Sending again now is refused as the same submission."
        )
        if result.error is not None:
            st.code(str(result.error), language=None, wrap_lines=True)

# -- launch many -------------------------------------------------------------------------
st.divider()
st.subheader("Launch many from a CSV")
st.caption("Write {{column}} placeholders in a template's fields; each CSV row becomes a case.")
m1, m2 = st.columns(2)
template_name = m1.selectbox("Template", [BUILT_IN, *saved], key="nc_batch_template")
upload = m2.file_uploader("CSV file (UTF-8, header row)", type=["csv"], key="nc_batch_file")
template = W9_TEMPLATE if template_name == BUILT_IN else saved[template_name]["body"]
needed = sorted(placeholders(template))
st.caption("Placeholders in this template:")
outside.text(", ".join(needed) if needed else "none")
if upload is not None:
    plan = plan_batch(template, upload.getvalue())
    if plan.error:
        st.error("Could not read the CSV:")
        st.code(plan.error, language=None, wrap_lines=True)
    elif plan.missing:
        st.error("The CSV lacks columns for these placeholders:")
        outside.text(", ".join(plan.missing))
    elif plan.rows:
        bodies = plan.rows
        outside.dataframe(pd.DataFrame(batch_preview(bodies)), hide_index=True)
        bad = sum(1 for _, p in bodies if p)
        if bad:
            st.warning(f"{plural(bad, 'row')} with problems will be skipped.")
        if st.button(
            f"Send {plural(len(bodies) - bad, 'case')}",
            key="nc_batch_send",
            disabled=operator() is None or len(bodies) == bad,
        ):
            if words := refused("launch"):
                st.error(literal(words))
                st.stop()
            bar = st.progress(0.0, text="Sending…")
            outcomes = launch_batch(
                db,
                get_client(),
                bodies,
                plan.submission_id,
                actor=operator(),
                progress=lambda done, total: bar.progress(done / total, text=f"{done} of {total}"),
            )
            outside.dataframe(pd.DataFrame(outcomes), hide_index=True)
