"""No value from outside reaches a Streamlit call that renders markdown (issue 13, defect 4).

Every such call in dashboard/ is read from the source (ast): the text it renders must be our
own: a literal, or an f-string / concatenation of literals, numbers formatted by our helpers
and names that hold our own words (listed below, each reviewed). Outside text goes through
``st.text``, ``st.code`` or a table, which render nothing."""

import ast

import pytest

from tests.helpers import ROOT

# Calls whose text arguments render markdown (labels, captions, help, titles, values).
RENDERS_MARKDOWN = {
    "markdown", "write", "caption", "title", "header", "subheader", "success", "warning",
    "error", "info", "toast", "metric", "expander", "tabs", "page_link", "button", "checkbox",
    "toggle", "radio", "selectbox", "multiselect", "text_input", "text_area", "number_input",
    "date_input", "file_uploader", "download_button", "link_button", "form_submit_button",
    "popover", "dialog", "set_page_config", "Page", "status", "progress", "segmented_control",
    "pills", "badge",
}  # fmt: skip
TEXT_KEYWORDS = {"label", "help", "body", "title", "page_title", "text"}


def keywords_of(name: str) -> set[str]:
    """The keyword arguments of ``name`` that render markdown (a metric's value and delta
    do; a text input's value does not)."""
    return TEXT_KEYWORDS | ({"value", "delta"} if name == "metric" else set())


# metric renders its first three positional arguments (label, value, delta); others one.
POSITIONAL = {"metric": 3, "progress": 0}
# Functions of ours whose result is our own words or a number, whatever their input.
SAFE_FUNCS = {
    "plural", "when", "short_when", "duration", "gap", "len", "int", "local_now", "attempts",
    "next_action", "min", "max", "round", "literal",
}  # fmt: skip
# Names that hold our own words or numbers (reviewed): counts, page numbers, our labels, the
# operator's own time zone, messages the console wrote.
SAFE_NAMES = {
    "total",
    "pages",
    "BULK_LIMIT",
    "sent",
    "n",
    "rows",
    "bad",
    "number",
    "label",
    "tz",
    "pending",
    "done",
    "all_",
    "left",
    "used",
    "follow_ups",
    "BUILT_IN",
    "wanted",
    "message",
    "note",
    "status_word",
    "i",
    # dashboard/case_view.py: header_figures and result_check build these from the console's
    # own words only (tests/test_case_view.py feeds them hostile cases to check).
    "figure",
    "verdict",
    # dashboard/format.py due_words: "due in …" / "overdue by …", numbers and our words.
    "due_text",
    "due",  # the same words (dashboard/inbox_view.py queue_row passes them on)
    "overdue",  # a count
    # dashboard/app_pages/inbox.py: "N waiting, M overdue · the first K shown …": counts and
    # our words.
    "caption",
    # dashboard/health_checks.py and the Health page: "ok", "DOWN", "PROBLEM", "off", "never".
    "state",
}
# Attributes that hold the console's own words: an error's advice, an answer's outcome.
SAFE_ATTRIBUTES = {("exc", "advice"), ("outcome", "message")}  # fmt: skip


def ours(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.JoinedStr):
        return all(ours(v) for v in node.values)
    if isinstance(node, ast.FormattedValue):
        return ours(node.value)
    if isinstance(node, ast.BinOp):
        return ours(node.left) and ours(node.right)
    if isinstance(node, ast.IfExp):
        return ours(node.body) and ours(node.orelse)
    if isinstance(node, ast.BoolOp):
        return all(ours(v) for v in node.values)
    if isinstance(node, ast.Name):
        return node.id in SAFE_NAMES or node.id.isupper()  # or one of our module constants
    if isinstance(node, ast.Call):
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name in SAFE_FUNCS:
            return True
        if name in ("format", "replace", "lower", "title", "strip") and isinstance(
            func, ast.Attribute
        ):
            return ours(func.value) and all(ours(a) for a in node.args)
        if name == "get" and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            return func.value.id.isupper()  # a lookup in one of our constant tables
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return (node.value.id, node.attr) in SAFE_ATTRIBUTES
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        return node.value.id.isupper()  # one of our constant tables
    if isinstance(node, (ast.List, ast.Tuple)):
        return all(ours(e) for e in node.elts)
    return False


def markdown_calls():
    for path in sorted((ROOT / "dashboard").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            if not isinstance(node.func, ast.Attribute):
                continue  # st.x(...), col.x(...), st.sidebar.x(...): never a plain function
            name = node.func.attr
            if name not in RENDERS_MARKDOWN:
                continue
            texts = list(node.args[: POSITIONAL.get(name, 1)])
            texts += [k.value for k in node.keywords if k.arg in keywords_of(name)]
            for text in texts:
                yield path.relative_to(ROOT), node.lineno, name, text


def test_the_scan_finds_the_calls_it_must():
    names = {name for _, _, name, _ in markdown_calls()}
    assert {"metric", "caption", "warning", "button", "page_link", "expander"} <= names


@pytest.mark.parametrize(
    "source, safe",
    [
        ('st.caption("Fixed words")', True),
        ('st.caption(f"{total} waiting")', True),
        ('st.metric("Status", case["status"])', False),
        ('st.caption(row["question"])', False),
        ('st.page_link("p.py", label=f"{r[\'case_id\']}")', False),
        ('st.button("Send", help=exc.message)', False),
    ],
)
def test_ours_tells_our_words_from_outside_values(source, safe):
    call = ast.parse(source).body[0].value
    texts = list(call.args[: POSITIONAL.get(call.func.attr, 1)])
    texts += [k.value for k in call.keywords if k.arg in keywords_of(call.func.attr)]
    assert all(ours(t) for t in texts) is safe


def test_no_outside_value_reaches_a_markdown_rendering_call():
    offenders = [
        f"{path}:{line} st.{name}({ast.unparse(text)})"
        for path, line, name, text in markdown_calls()
        if not ours(text)
    ]
    assert offenders == [], "\n".join(offenders)


def test_literal_leaves_no_address_or_host_to_autolink():
    """Issue 23, 14: the live toast turned outside www. hosts and e-mail addresses into links."""
    from dashboard.format import literal

    shown = literal(
        "www.evil.example and WWW.x.example, mail ap@evil.example, https://evil.example"
    )
    assert "www." not in shown.lower() and "www\\." not in shown.lower()
    assert "@e" not in shown and "://" not in shown
    assert shown.replace("\u200b", "").replace("\\", "") == (
        "www.evil.example and WWW.x.example, mail ap@evil.example, https://evil.example"
    )
