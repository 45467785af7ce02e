"""Baselines for few-shot localization, used in the same code path as PLOT-TAL.

- ``coop``: one learnable CoOp prompt per class through the frozen text encoder, no optimal transport:
  the per-time class similarity is the plain cosine ``s_{t,c} = cos(f_t, g_c)``.
- ``prototype``: no prompts, no text tower, no adapter: the class "prompt" is the mean of the
  L2-normalised (standardised) input features of the class's marked frames,
  ``g_c = normalize(mean_{t in marks(c)} x_t / |x_t|)``,
  and ``s_{t,c} = cos(x_t, g_c)`` at every pyramid level (levels pooled from the normalised inputs).

Both feed the same classification head (``logit = scale · s + bias_c``), the same regression head,
losses (focal + IoU) and the same decoding (soft-NMS) as PLOT-TAL (see ``otcore.methods.plot_tal``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["cosine_similarity_scores", "class_prototypes", "FixedPrompts"]


def cosine_similarity_scores(features: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
    """``s[..., t, c] = max_n cos(f_t, g_{c,n})`` for ``features [..., T, E]`` and ``prompts [C, N, E]``
    (with one prompt per class, as in CoOp, this is the plain cosine)."""
    f = F.normalize(features, dim=-1)
    g = F.normalize(prompts, dim=-1)
    s = torch.einsum("...te,cne->...tcn", f, g)
    return s.amax(dim=-1)


def class_prototypes(features: list[torch.Tensor], masks: list[torch.Tensor], n_classes: int) -> torch.Tensor:
    """Class means of marked frames: ``features[i] [T_i, D]``, ``masks[i] [T_i, C]`` (bool/0-1) →
    ``[C, 1, D]`` L2-normalised prototypes (a class with no marked frame gets a zero vector)."""
    d = int(features[0].shape[-1])
    total = torch.zeros(n_classes, d, dtype=torch.float32, device=features[0].device)
    count = torch.zeros(n_classes, dtype=torch.float32, device=features[0].device)
    for x, m in zip(features, masks):
        xn = F.normalize(x.float(), dim=-1)
        m = m.float()
        total += m.t() @ xn
        count += m.sum(0)
    proto = total / count.clamp_min(1.0)[:, None]
    return F.normalize(proto, dim=-1)[:, None, :]


class FixedPrompts(nn.Module):
    """Fixed prompt features: ``forward() -> [C, N, D]`` (a buffer, nothing to learn): the class
    prototypes of the ``prototype`` baseline, or the cached prompt features of a trained model."""

    features: torch.Tensor

    def __init__(self, features: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("features", features)

    def forward(self) -> torch.Tensor:
        """The prompt features ``[C, N, D]``."""
        return self.features
