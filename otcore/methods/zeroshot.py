r"""Zero-shot proposals from label names: CLIP's prompt ensemble against frame features, OT-decoded.

Before any mark, each label :math:`c` is turned into a text embedding by CLIP's zero-shot recipe:
every template :math:`t` of an ensemble (``"a video frame of a person {}."``, ...) is filled with the
label's text (its description when one is given, else its name with ``_`` read as a space), encoded by
the text tower, L2-normalised, averaged over templates and normalised again,

.. math::
    w_c = \frac{\sum_t \phi(t(c)) / \|\phi(t(c))\|}{\|\sum_t \phi(t(c)) / \|\phi(t(c))\|\|}.

Frame :math:`i` (unit image feature :math:`x_i`) scores :math:`s_{ic} = \langle x_i, w_c\rangle`.
A background column is added so that frames that match no label stay unlabelled: its similarity is
the video's mean best-label similarity, :math:`b = \frac1T\sum_i \max_c s_{ic}` (a frame is
foreground when it matches its best label better than the average frame of that video does), and
the frame×(labels + background) probabilities are
:math:`P_i = \mathrm{softmax}(\sigma\,[s_{i1}, \dots, s_{iL}, b])` with the model's logit scale
:math:`\sigma` (100 for OpenAI's CLIP).

Decoding. Per-frame argmax of :math:`P` flickers; the labels come from the ASOT temporal decoder
(:func:`otcore.methods.asot.decode_scores`: fused GW with a temporal band, a KL-relaxed label
marginal so absent labels take no mass), then runs of one label become segments. A segment's score
is the mean probability of its label over its frames.

Example:
    >>> import torch
    >>> w = torch.eye(3)[:2]                           # two labels
    >>> x = torch.eye(3)[[0, 0, 0, 2, 2, 1, 1, 1]]     # a, a, a, none, none, b, b, b
    >>> pred = propose_segments(x, fps=1.0, labels=["a", "b"], text_features=w, logit_scale=50.0)
    >>> [(s.label, s.start, s.end) for s in pred.segments]
    [('a', 0.0, 3.0), ('b', 5.0, 8.0)]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from otcore.methods.asot import DecoderSettings, decode_scores
from otcore.methods.class_text import class_texts
from otcore.types import Prediction, Segment

__all__ = [
    "DEFAULT_TEMPLATES",
    "ZeroShotConfig",
    "label_text",
    "class_text_features",
    "zero_shot_probs",
    "propose_segments",
]

#: Prompt ensemble for actions in video frames (after CLIP's zero-shot templates for Kinetics-700
#: and UCF-101, which describe a person doing the action in a photo or video frame).
DEFAULT_TEMPLATES: tuple[str, ...] = (
    "a photo of {}.",
    "a video frame of {}.",
    "a photo of a person {}.",
    "a video of a person doing {}.",
    "an example of {}.",
    "a close-up photo of {}.",
    "a blurry photo of {}.",
)


@dataclass(frozen=True)
class ZeroShotConfig:
    """Settings of :func:`propose_segments`.

    ``decoder`` holds the OT decoder's settings (band radius, relaxation, entropy); ``min_score``
    drops segments whose mean label probability is below it; ``min_frames`` drops shorter runs.
    """

    templates: tuple[str, ...] = DEFAULT_TEMPLATES
    decoder: DecoderSettings = field(default_factory=DecoderSettings)
    min_score: float = 0.0
    min_frames: int = 1


def label_text(name: str, description: str | None = None) -> str:
    """The text a label stands for: its description when given (whitespace collapsed, at most
    :data:`~otcore.methods.class_text.MAX_DESCRIPTION_WORDS` words, no trailing full stop since the
    templates add one), else its name (``_`` → space); :func:`otcore.methods.class_text.class_texts`."""
    return class_texts([name], {name: description} if description else None)[0]


def class_text_features(
    encode_text: Callable[[list[str]], torch.Tensor],
    labels: Sequence[str],
    *,
    descriptions: Mapping[str, str] | None = None,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
) -> torch.Tensor:
    """Prompt-ensemble text embeddings ``[L, E]`` (unit norm), one row per label.

    ``encode_text(texts) -> [len(texts), E]`` is the text tower (e.g.
    ``otcore.video.encoders.ClipEncoder.encode_text``); each template must contain ``{}``. A label
    with a description in ``descriptions`` (label name → text) fills the templates with it, the
    others with their name (:func:`label_text`).
    """
    if not labels:
        raise ValueError("need at least one label")
    if not templates or any("{}" not in t for t in templates):
        raise ValueError("every template needs a '{}' placeholder")
    rows = []
    for text in class_texts(labels, descriptions):
        emb = encode_text([t.format(text) for t in templates]).float()
        mean = F.normalize(emb, dim=-1).mean(0)
        rows.append(F.normalize(mean, dim=0))
    return torch.stack(rows)


def zero_shot_probs(frames: torch.Tensor, text_features: torch.Tensor, logit_scale: float) -> torch.Tensor:
    """Frame × (labels + background) probabilities ``[T, L + 1]`` (background last; see module doc)."""
    if frames.ndim != 2 or text_features.ndim != 2 or frames.shape[1] != text_features.shape[1]:
        raise ValueError(
            f"frames [T, D] and text features [L, D] must share D, got {tuple(frames.shape)} and "
            f"{tuple(text_features.shape)}"
        )
    if not (np.isfinite(logit_scale) and logit_scale > 0):
        raise ValueError(f"logit_scale must be a positive number, got {logit_scale}")
    x = F.normalize(frames.float(), dim=-1)
    w = F.normalize(text_features.float().to(x.device), dim=-1)
    sim = x @ w.T  # [T, L]
    background = sim.max(dim=1).values.mean().expand(sim.shape[0], 1)
    return torch.softmax(logit_scale * torch.cat([sim, background], dim=1), dim=1)


def propose_segments(
    frames: torch.Tensor,
    fps: float,
    labels: Sequence[str],
    text_features: torch.Tensor,
    logit_scale: float,
    config: ZeroShotConfig = ZeroShotConfig(),
) -> Prediction:
    """Zero-shot segments of one video: ``frames [T, D]`` sampled at ``fps``, one text row per label.

    Returns a :class:`otcore.types.Prediction` whose ``frame_scores`` are the ``[T, L + 1]``
    probabilities (background last) and whose segments carry their mean label probability.
    """
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps}")
    if len(labels) != text_features.shape[0]:
        raise ValueError(f"{len(labels)} labels for {text_features.shape[0]} text rows")
    probs = zero_shot_probs(frames, text_features, logit_scale)
    if probs.shape[0] == 0:
        return Prediction(segments=[], frame_scores=probs)
    assigned = decode_scores(probs, config.decoder).cpu().numpy()
    background = len(labels)
    segments: list[Segment] = []
    change = np.flatnonzero(np.diff(assigned)) + 1
    starts = np.concatenate([[0], change]).tolist()
    ends = np.concatenate([change, [assigned.size]]).tolist()
    for s, e in zip(starts, ends):
        k = int(assigned[s])
        if k == background or e - s < config.min_frames:
            continue
        score = float(probs[s:e, k].mean())
        if score < config.min_score:
            continue
        segments.append(Segment(label=labels[k], start=s / fps, end=e / fps, score=score))
    return Prediction(segments=segments, frame_scores=probs)
