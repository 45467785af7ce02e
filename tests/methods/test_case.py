"""CASE on synthetic sequences with video-level labels only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from otcore.methods.case import CASE, CASEConfig

pytestmark = pytest.mark.usefixtures("one_thread")


def sequences(n: int, seed: int, d: int = 24):
    """Background noise with 1-2 action bursts of class 0 or 1 (class mean added), labels per sequence."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(2, d)) * 2.5
    xs, labels, fgs = [], [], []
    for _ in range(n):
        t = int(rng.integers(40, 60))
        x = rng.normal(size=(t, d)).astype(np.float32)
        fg = np.zeros(t, dtype=bool)
        cls = sorted({int(c) for c in rng.integers(0, 2, size=int(rng.integers(1, 3)))})
        for c in cls:
            s = int(rng.integers(0, t - 10))
            e = s + int(rng.integers(5, 10))
            x[s:e] += means[c]
            fg[s:e] = True
        xs.append(x)
        labels.append(cls)
        fgs.append(fg)
    return xs, labels, fgs


def _auc(scores: np.ndarray, target: np.ndarray) -> float:
    from otcore.bench.weak import roc_auc

    return roc_auc(scores, target)


@pytest.mark.parametrize("clustering", [True, False])
def test_foreground_from_video_labels(clustering: bool):
    xs, labels, fgs = sequences(32, seed=0)  # one draw: train and test share the class means
    tx, tf = xs[24:], fgs[24:]
    xs, labels = xs[:24], labels[:24]
    cfg = CASEConfig(
        n_clusters=8, hidden=32, epochs=20, lr=5e-3, batch_size=6, clustering=clustering, dropout=0.0, seed=0
    )
    torch.manual_seed(0)
    model = CASE(24, 2, cfg).fit(xs, labels)
    outs = [model.infer(x) for x in tx]
    auc = _auc(np.concatenate([o.p_fg.numpy() for o in outs]), np.concatenate(tf))
    assert auc > 0.8
    o = outs[0]
    assert o.p_fg.shape == (tx[0].shape[0],) and o.p_clusters.shape == (tx[0].shape[0], 8)
    assert float(o.p_fg.min()) >= 0 and float(o.p_fg.max()) <= 1
    if not clustering:
        assert torch.allclose(o.p_fg, o.p_att)
    else:
        assert torch.allclose(o.p_fg, 0.5 * o.p_att + 0.5 * o.p_clu)
        # cluster foreground shares are a distribution-valued statistic in [0, 1]
        assert float(model.cluster_fg.min()) >= 0 and float(model.cluster_fg.max()) <= 1
        # cluster classification separates clusters: some are mostly foreground, some background
        # (with raw cosines of non-negative embeddings every share stayed at the marginal β)
        assert float(model.cluster_fg.max() - model.cluster_fg.min()) > 0.5
        clu_auc = _auc(np.concatenate([o.p_clu.numpy() for o in outs]), np.concatenate(tf))
        assert clu_auc > 0.8
    pred = model.predict(tx[0], ["a", "b"], fps=2.0)
    assert all(s.label in ("a", "b") and s.score is not None for s in pred.segments)


def test_snippet_pseudo_labels_spread_over_clusters():
    """Equipartition: the Sinkhorn pseudo-labels use every cluster (no collapse)."""
    xs, labels, _ = sequences(6, seed=2)
    model = CASE(24, 2, CASEConfig(n_clusters=4, hidden=16, dropout=0.0))
    x = torch.zeros(6, 60, 24)
    m = torch.zeros(6, 60, dtype=torch.bool)
    for i, v in enumerate(xs):
        x[i, : len(v)] = torch.as_tensor(v)
        m[i, : len(v)] = True
    y = torch.zeros(6, 2)
    for i, lab in enumerate(labels):
        y[i, lab] = 1
    losses = model._losses(x, m, y)
    assert set(losses) == {"L_V", "L_A", "L_S", "L_C"}
    assert all(torch.isfinite(v) for v in losses.values())


def test_cluster_classification_separates_clusters_of_non_negative_embeddings():
    """Post-ReLU embeddings share a large common component; the foreground cluster must still be
    classified foreground with a clear margin (raw cosines would all be ≈ 1)."""
    from otcore.methods.case import cluster_class_logits

    g = torch.Generator().manual_seed(0)
    n, h = 200, 16
    fg = torch.zeros(n)
    fg[:50] = 1.0
    direction = torch.zeros(h)
    direction[0] = 1.0
    emb = 10.0 + 0.1 * torch.rand(n, h, generator=g)
    emb[:50] += 0.5 * direction  # foreground snippets differ only slightly from the rest
    q = torch.zeros(n, 2)
    q[:50, 1] = 1.0  # cluster 1 = the foreground snippets
    q[50:, 0] = 1.0
    p = torch.softmax(cluster_class_logits(emb, q, fg, rho=10.0), -1)
    assert float(p[1, 1]) > 0.9 and float(p[0, 0]) > 0.9
