"""Issue 33: roles. A viewer reads and does nothing; an operator does today's actions; an
admin also changes roles and templates. Each check is in the action's own callback (an open
page keeps its buttons; the click is what is refused) and every refusal is audited."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from offload_console.accounts import add_operator, may, oidc_role
from storage import audit
from storage.operators import set_role
from tests.test_auth import APP, QUESTION, app_db, everything, sign_in  # noqa: F401

PASSWORD = "a long enough password"


def test_each_role_may_what_it_may():
    assert [may("viewer", a) for a in ("answer", "assign", "launch", "export")] == [False] * 4
    assert all(may("operator", a) for a in ("answer", "assign", "launch", "export", "duty"))
    assert not may("operator", "operators") and not may("operator", "templates")
    assert may("admin", "operators") and may("admin", "answer")
    assert not may(None, "answer") and not may("root", "answer")


def test_an_oidc_role_comes_from_a_claim_mapped_in_secrets():
    secrets = {
        "console": {
            "roles": {"claim": "groups", "admin": ["ops-leads"], "viewer": "finance"},
        }
    }
    assert oidc_role({"groups": ["ops", "ops-leads"]}, secrets) == "admin"
    assert oidc_role({"groups": "finance"}, secrets) == "viewer"
    assert oidc_role({"groups": ["other"]}, secrets) == "operator"  # the default
    assert oidc_role({}, {"console": {"roles": {"default": "viewer"}}}) == "viewer"
    assert oidc_role({"email": "x@example.com"}, {}) == "operator"


def refusals(db) -> list[dict]:
    return [json.loads(e["detail"]) for e in audit.list_audit(db) if e["action"] == "role.refused"]


@pytest.fixture
def viewer(app_db):  # noqa: F811
    add_operator(app_db, "lee", PASSWORD, by="admin")
    set_role(app_db, "lee", "viewer")
    at = sign_in(AppTest.from_file(APP, default_timeout=30).run(), "lee", PASSWORD)
    assert QUESTION in everything(at)  # a viewer reads the Inbox
    return app_db, at


def test_a_viewer_is_refused_send_bulk_and_assign_where_they_happen(viewer):
    db, at = viewer
    at.text_area(key="answer_r1").input("Yes").run()
    at.button(key="send_r1").click().run()
    assert "may not answer questions" in everything(at)
    at.button(key="assign_me_r1").click().run()
    assert "may not assign questions" in everything(at)
    at.checkbox(key="bulk_pick_r1").check().run()
    at.text_area(key="bulk_answer").input("Yes to all").run()
    at.button(key="bulk_send").click().run()
    assert at.session_state["bulk_results"][0]["what happened"].startswith("Your role (viewer)")
    row = db.execute("SELECT answered_at, assigned_to FROM input_requests").fetchone()
    assert tuple(row) == (None, None)
    assert sorted(r["action"] for r in refusals(db)) == ["answer", "answer", "assign"]
    assert all(r["role"] == "viewer" for r in refusals(db))


def test_a_role_taken_away_counts_at_the_next_click(app_db):  # noqa: F811
    add_operator(app_db, "avery", PASSWORD, by="admin")
    at = sign_in(AppTest.from_file(APP, default_timeout=30).run(), "avery", PASSWORD)
    at.text_area(key="answer_r1").input("Yes").run()
    set_role(app_db, "avery", "viewer")  # an admin, elsewhere, while the page is open
    at.button(key="send_r1").click().run()
    assert "may not answer questions" in everything(at)
    assert at.session_state["answer_r1"] == "Yes"  # what was typed is kept


def test_a_viewer_launches_and_exports_nothing(viewer):
    db, at = viewer
    at.switch_page("app_pages/new_case.py").run()
    at.button(key="nc_send").click().run()
    assert "may not launch cases" in everything(at)
    assert db.execute("SELECT count(*) FROM submissions").fetchone()[0] == 0
    at.switch_page("app_pages/export.py").run()
    at.button(key="ex_prepare").click().run()
    assert "may not export" in everything(at) and "ex_file" not in at.session_state
    assert sorted(r["action"] for r in refusals(db)) == ["export", "launch"]


def test_only_an_admin_changes_roles(app_db):  # noqa: F811
    add_operator(app_db, "ada", PASSWORD, by="admin")
    add_operator(app_db, "avery", PASSWORD, by="admin")
    set_role(app_db, "ada", "admin")
    at = sign_in(AppTest.from_file(APP, default_timeout=30).run(), "ada", PASSWORD)
    at.switch_page("app_pages/team.py").run()
    at.selectbox(key="team_role_avery").set_value("viewer").run()
    at.button(key="team_change_avery").click().run()
    assert app_db.execute("SELECT role FROM operators WHERE name = 'avery'").fetchone()[0] == (
        "viewer"
    )
    at.selectbox(key="team_role_avery").set_value("admin").run()
    set_role(app_db, "ada", "operator")  # demoted while the page is open
    at.button(key="team_change_avery").click().run()
    assert "may not manage operators" in everything(at)
    assert app_db.execute("SELECT role FROM operators WHERE name = 'avery'").fetchone()[0] == (
        "viewer"
    )
    assert [r["action"] for r in refusals(app_db)] == ["operators"]


def test_on_duty_from_the_team_page_and_a_viewer_may_not(app_db):  # noqa: F811
    from storage.routing import is_on_duty

    add_operator(app_db, "avery", PASSWORD, by="admin")
    at = sign_in(AppTest.from_file(APP, default_timeout=30).run(), "avery", PASSWORD)
    at.switch_page("app_pages/team.py").run()
    at.toggle(key="team_on_duty").set_value(True).run()
    assert is_on_duty(app_db, "avery")
    at.toggle(key="team_on_duty").set_value(False).run()
    assert not is_on_duty(app_db, "avery")
    set_role(app_db, "avery", "viewer")
    at.toggle(key="team_on_duty").set_value(True).run()
    assert not is_on_duty(app_db, "avery") and "may not go on duty" in everything(at)
