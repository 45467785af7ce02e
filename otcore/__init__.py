"""otstudio's engine: optimal-transport solvers, few-shot and unsupervised temporal
action methods, video I/O, features, metrics, storage, background jobs and export.

Plain library: nothing here imports Streamlit.
"""

from otcore.types import Prediction, Segment, VideoFeatures

__version__ = "0.1.0"
__all__ = ["Prediction", "Segment", "VideoFeatures", "__version__"]
