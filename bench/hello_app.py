"""The hello-world Streamlit page the page benchmarks compare against."""

import streamlit as st

st.title("Hello")
st.write("world")
