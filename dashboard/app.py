"""The offload-console dashboard (Streamlit): ``offload-console dashboard``."""

from pathlib import Path
from urllib.parse import urlparse

import streamlit as st

from dashboard import style
from dashboard.auth import gate, may_see_pages, sign_in_mode
from dashboard.format import literal
from dashboard.health_checks import trouble, waiting_to_be_stored
from dashboard.outage import database_trouble
from dashboard.session import get_db
from offload_console import settings
from storage import StorageError, now_ms
from storage.inbox import overdue_count, pending_count
from storage.instances import list_instances
from storage.notifications import known_target_count, target_health


def at_unknown_path(pages: list) -> bool:
    """Whether the browser asked for a page path no page has ("/" is the Inbox's)."""
    try:
        path = urlparse(st.context.url or "").path
    except Exception:  # noqa: BLE001 - an older client sends no URL
        return False
    asked = path.rstrip("/").rsplit("/", 1)[-1]
    return bool(asked) and asked not in {p.url_path for p in pages}


# The icon is served by the dashboard itself (a Material icon would be fetched from Google).
ICON = str(Path(__file__).with_name("icon.png"))
try:
    mode = sign_in_mode()
    signed_in = may_see_pages(mode)
    # The counts are for signed-in eyes only (a signed-out tab's title says nothing).
    pending = pending_count(get_db()) if signed_in else 0
    overdue = (
        overdue_count(get_db(), within_ms=settings.answer_within_ms(), now=now_ms())
        if signed_in
        else 0
    )
    outage = None
except StorageError as exc:  # the database is not answering: a banner, below
    mode, signed_in, pending, overdue, outage = None, False, 0, 0, exc
# The tab's title carries the count, so a background tab tells the operator.
st.set_page_config(
    page_title=f"({pending}) Offload console" if pending else "Offload console",
    page_icon=ICON,
    layout="wide",
)
pages = [
    # The default page lives at "/", whatever url_path would say.
    st.Page(
        "app_pages/inbox.py",
        title=f"Inbox ({pending})" + (f" · {overdue} overdue" if overdue else ""),
        icon=":material/inbox:",
        default=True,
    ),
    st.Page("app_pages/cases.py", title="Cases", icon=":material/list:", url_path="cases"),
    st.Page(
        "app_pages/case.py", title="Case timeline", icon=":material/timeline:", url_path="case"
    ),
    st.Page(
        "app_pages/new_case.py", title="New case", icon=":material/add_circle:", url_path="new"
    ),
    st.Page("app_pages/export.py", title="Export", icon=":material/download:", url_path="export"),
    st.Page(
        "app_pages/reports.py", title="Reports", icon=":material/bar_chart:", url_path="reports"
    ),
    st.Page("app_pages/team.py", title="Team", icon=":material/groups:", url_path="team"),
    st.Page(
        "app_pages/deliveries.py",
        title="Deliveries",
        icon=":material/move_to_inbox:",
        url_path="deliveries",
    ),
    st.Page("app_pages/audit.py", title="Audit", icon=":material/history:", url_path="audit"),
    st.Page(
        "app_pages/health.py", title="Health", icon=":material/monitor_heart:", url_path="health"
    ),
]
# The page is resolved from the URL before the sign-in, so signing in at a deep link lands
# on that page; the navigation stays hidden until then.
page = st.navigation(pages, position="sidebar" if signed_in else "hidden")
try:
    if outage is not None:
        raise outage
    gate(mode)  # signed-out sessions stop here, having seen only the sign-in
    style.apply()
    for line in trouble(target_health(get_db()), known_target_count(get_db()), now_ms()):
        # The target's last error is the receiver's words: shown as written.
        st.error(literal(line), icon=":material/notifications_off:")
    for line in waiting_to_be_stored(list_instances(get_db()), now_ms()):
        st.warning(literal(line), icon=":material/hourglass_top:")
    if at_unknown_path(pages):  # a mistyped or old link: say so, not quietly show the Inbox
        st.warning(  # the path itself is not shown: Streamlit reports it cut short
            "There is no page at that address: this is the Inbox. The pages are in the sidebar.",
            icon=":material/link_off:",
        )
    page.run()
except StorageError as exc:
    database_trouble(exc)
