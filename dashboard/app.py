"""The offload-console dashboard (Streamlit): ``offload-console dashboard``."""

from pathlib import Path

import streamlit as st

from dashboard.auth import gate, may_see_pages, sign_in_mode
from dashboard.session import get_db
from storage.inbox import pending_count

# The icon is served by the dashboard itself (a Material icon would be fetched from Google).
ICON = str(Path(__file__).with_name("icon.png"))
st.set_page_config(page_title="Offload console", page_icon=ICON, layout="wide")

pending = pending_count(get_db())
st.session_state["nav_pending"] = pending  # the Inbox reruns the app when it changes
pages = [
    # The default page lives at "/", whatever url_path would say.
    st.Page(
        "app_pages/inbox.py", title=f"Inbox ({pending})", icon=":material/inbox:", default=True
    ),
    st.Page("app_pages/cases.py", title="Cases", icon=":material/list:", url_path="cases"),
    st.Page(
        "app_pages/case.py", title="Case timeline", icon=":material/timeline:", url_path="case"
    ),
    st.Page(
        "app_pages/new_case.py", title="New case", icon=":material/add_circle:", url_path="new"
    ),
    st.Page("app_pages/export.py", title="Export", icon=":material/download:", url_path="export"),
    st.Page("app_pages/audit.py", title="Audit", icon=":material/history:", url_path="audit"),
    st.Page(
        "app_pages/health.py", title="Health", icon=":material/monitor_heart:", url_path="health"
    ),
]
# The page is resolved from the URL before the sign-in, so signing in at a deep link lands
# on that page; the navigation stays hidden until then.
mode = sign_in_mode()
page = st.navigation(pages, position="sidebar" if may_see_pages(mode) else "hidden")
gate(mode)  # signed-out sessions stop here, having seen only the sign-in
page.run()
