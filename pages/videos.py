import streamlit as st

st.title("Videos")
st.info("This page is being built: see the project's open issues.")
