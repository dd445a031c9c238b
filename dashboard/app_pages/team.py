"""Team: who the operators are, their roles, who is on duty and how many questions each holds.
Each operator puts themselves on or off duty (automatic assignment gives new questions to those
on duty, when it is on); an admin changes local accounts' roles. Every change is checked where
it happens (the callback) and audited."""

import pandas as pd
import streamlit as st

from dashboard import outside
from dashboard.auth import operator, refused, role
from dashboard.format import literal, when
from dashboard.health_checks import ago
from dashboard.session import get_db, operator_tz
from offload_console import settings
from storage import audit, now_ms
from storage.operators import ROLES, list_operators, set_role
from storage.routing import go_off_duty, go_on_duty, is_on_duty, on_duty

db = get_db()
ss = st.session_state
tz = operator_tz()
st.title("Team")


def set_my_duty() -> None:
    wanted = ss.get("team_on_duty")
    if words := refused("duty"):
        ss["team_note"] = words
        return
    if wanted:
        go_on_duty(db, operator(), now_ms())
        ss["team_note"] = "You are on duty."
    else:
        go_off_duty(db, operator())
        ss["team_note"] = "You are off duty: no new question is assigned to you."


def change_role(name: str) -> None:
    new_role = ss.get(f"team_role_{name}")
    if words := refused("operators"):
        ss["team_note"] = words
        return
    if set_role(db, name, new_role):
        audit.record(db, operator(), "operator.role", target=name, detail={"role": new_role})
        ss["team_note"] = f"{name} is now {new_role}."


me = operator()
cap = settings.auto_assign_cap()
st.caption(
    literal(
        f"Automatic assignment is on: each new question goes to an operator on duty, in turn, "
        f"skipping anyone holding {cap} open questions."
    )
    if cap is not None
    else "Automatic assignment is off (OFFLOAD_CONSOLE_AUTO_ASSIGN): being on duty only shows here."
)
if me:
    ss["team_on_duty"] = is_on_duty(db, me)
    st.toggle(literal(f"{me}: on duty"), key="team_on_duty", on_change=set_my_duty)
    st.caption(literal(f"Your role: {role() or 'none'}."))
if "team_note" in ss:
    st.info(literal(ss.pop("team_note")))

duty = {row["operator"]: row for row in on_duty(db)}
accounts = list_operators(db)
rows = [
    {
        "operator": a["name"],
        "role": a["role"],
        "e-mail": a["email"] or "",
        "on duty since": when(duty[a["name"]]["since"], tz) if a["name"] in duty else "",
        "open questions": duty[a["name"]]["open_questions"] if a["name"] in duty else "",
    }
    for a in accounts
]
rows += [  # on duty without a local account (OIDC operators, or names typed without sign-in)
    {
        "operator": name,
        "role": "",
        "e-mail": "",
        "on duty since": when(row["since"], tz),
        "open questions": row["open_questions"],
    }
    for name, row in duty.items()
    if name not in {a["name"] for a in accounts}
]
if rows:
    outside.dataframe(pd.DataFrame(rows), hide_index=True, key="team_table")
    last = max((r["last_assigned_at"] or 0 for r in duty.values()), default=0)
    if last:
        st.caption(literal(f"Last question given by the router: {ago(now_ms() - last)}."))
else:
    st.info("No operator accounts and nobody on duty.")

if accounts and role() == "admin":
    st.subheader("Roles")
    st.caption(
        "viewer: reads everything, acts on nothing · operator: answers, assigns, launches, "
        "exports · admin: also manages operators and templates. A change counts at the "
        "operator's next click."
    )
    for account in accounts:
        name = account["name"]
        c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
        with c1:
            outside.text(name)
        c2.selectbox(
            "Role",
            ROLES,
            index=ROLES.index(account["role"]) if account["role"] in ROLES else 1,
            key=f"team_role_{name}",
            label_visibility="collapsed",
        )
        c3.button("Change", key=f"team_change_{name}", on_click=change_role, args=(name,))
