"""The offload-console dashboard (Streamlit): `streamlit run dashboard/app.py`."""

import streamlit as st

st.set_page_config(page_title="Offload console", layout="wide")

pages = [
    st.Page("app_pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
]
st.navigation(pages).run()
