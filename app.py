"""otstudio: the Streamlit app. Run with ``make run`` (or ``streamlit run app.py``)."""

import streamlit as st

st.set_page_config(page_title="otstudio", layout="wide")

pages = [
    st.Page("pages/videos.py", title="Videos", icon=":material/movie:", default=True),
    st.Page("pages/annotate.py", title="Annotate", icon=":material/edit:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/inspect.py", title="Inspect", icon=":material/insights:"),
    st.Page("pages/review.py", title="Review & Export", icon=":material/fact_check:"),
]
st.navigation(pages).run()
