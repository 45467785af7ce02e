"""Plain Plotly figures of method outputs (no Streamlit): see :mod:`otcore.viz.fewshot`."""

from otcore.viz.fewshot import plan_figure, segments_figure

__all__ = ["plan_figure", "segments_figure"]
