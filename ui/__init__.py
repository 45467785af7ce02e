"""Streamlit-side helpers of the otstudio app (shared page state, custom components).

Nothing in ``otcore`` imports from here; pages import from here and from ``otcore``.
"""
