import streamlit as st

st.title("Review")
st.info("This page is being built: see the project's open issues.")
