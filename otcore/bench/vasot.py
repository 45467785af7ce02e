"""VASOT in ``otstudio eval segment --method vasot``.

Same protocol as ASOT in :mod:`otcore.bench.segment`: per activity, VASOT is fit on all of that
activity's videos (its alignment pairs are drawn within the activity) with ASOT's Breakfast settings,
the per-activity K and the band radius rule of :data:`otcore.methods.asot.RADIUS_RULE` (used by both the
segmentation and the alignment OT), and the per-frame cluster ids are scored like ASOT's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch

from otcore.bench.data import SegVideo

__all__ = ["run_vasot"]


def run_vasot(
    videos: list[SegVideo],
    k: int,
    seed: int,
    epochs: int | None = None,
    extra: dict[str, Any] | None = None,
) -> list[np.ndarray]:
    """Per-frame cluster ids of VASOT (``k`` actions, ``seed``) on the videos of one activity;
    ``extra`` overrides fields of :func:`otcore.methods.vasot.vasot_breakfast_config`; a dotted key
    overrides a field of a nested setting (``align_ot.alpha``, ``train_ot.rho``)."""
    from otcore.methods.vasot import VASOT, vasot_breakfast_config

    torch.manual_seed(seed)
    feats = [torch.as_tensor(v.features, dtype=torch.float32) for v in videos]
    flat: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, val in (extra or {}).items():
        if "." in key:
            outer, inner = key.split(".", 1)
            nested.setdefault(outer, {})[inner] = val
        else:
            flat[key] = val
    cfg = vasot_breakfast_config(k, seed=seed, **flat)
    for outer, fields in nested.items():
        cfg = replace(cfg, **{outer: replace(getattr(cfg, outer), **fields)})
    if epochs is not None:
        cfg = replace(cfg, epochs=epochs)
    model = VASOT(feats[0].shape[1], cfg).fit(list(feats))
    out: list[np.ndarray] = []
    for f in feats:
        clusters = model.predict(f).clusters
        assert clusters is not None
        out.append(clusters.numpy())
    return out
