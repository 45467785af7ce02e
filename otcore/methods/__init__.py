"""Few-shot and unsupervised temporal action methods built on ``otcore.ot``.

Few-shot localization (names exported here): PLOT-TAL and its baselines in one code path
(:mod:`otcore.methods.plot_tal`, :mod:`otcore.methods.baselines`), CoOp-style prompts around a frozen
CLIP text tower (:mod:`otcore.methods.prompts`), SOT-GLP global/local scoring
(:mod:`otcore.methods.sot_glp`).

Unsupervised segmentation and alignment live in their own modules, imported by module:
``otcore.methods.asot``, ``otcore.methods.clot``, ``otcore.methods.case``, ``otcore.methods.align``.
"""

from otcore.methods.baselines import FixedPrompts, class_prototypes, cosine_similarity_scores
from otcore.methods.plot_tal import (
    METHODS,
    FewShotTAL,
    PlotTALConfig,
    TrainVideo,
    fit,
    load_model,
    predict,
    save_model,
    with_method,
)
from otcore.methods.prompts import PromptEncoder, PromptLearner, TextEncoder, TextTower, load_text_tower
from otcore.methods.sot_glp import (
    SegmentScorer,
    SotGlpConfig,
    fit_clips,
    fit_segment_scorer,
    rescore_segments,
)

__all__ = [
    "METHODS",
    "PlotTALConfig",
    "TrainVideo",
    "FewShotTAL",
    "fit",
    "predict",
    "save_model",
    "load_model",
    "with_method",
    "FixedPrompts",
    "class_prototypes",
    "cosine_similarity_scores",
    "TextTower",
    "load_text_tower",
    "TextEncoder",
    "PromptLearner",
    "PromptEncoder",
    "SotGlpConfig",
    "SegmentScorer",
    "fit_clips",
    "fit_segment_scorer",
    "rescore_segments",
]
