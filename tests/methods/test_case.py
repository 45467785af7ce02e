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
    # default fusion "replace": (softmax CAS_c + P^M) / 2 with P^M = (P^A + P^T) / 2 (baseline: P^A),
    # p_fg = the best predicted class's curve
    pm = 0.5 * (o.p_att + o.p_clu) if clustering else o.p_att
    assert torch.allclose(o.p_class, 0.5 * (torch.softmax(o.cas, -1) + pm[:, None]), atol=1e-6)
    assert torch.allclose(o.p_fg, o.p_class[:, list(o.classes)].amax(-1))
    if clustering:
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


def test_agnostic_fusion_is_half_attention_half_clusters():
    xs, labels, _ = sequences(8, seed=3)
    cfg = CASEConfig(n_clusters=4, hidden=16, epochs=2, fusion="agnostic", dropout=0.0)
    o = CASE(24, 2, cfg).fit(xs, labels).infer(xs[0])
    assert torch.allclose(o.p_fg, 0.5 * o.p_att + 0.5 * o.p_clu)


def test_rank_priors_paper_peaked_code_nearly_flat():
    """The paper's prior sends high-attention snippets to high-foreground clusters; the code's σ = 10
    prior varies by well under 1 % (and uses a permutation, not ranks)."""
    from otcore.methods.case import rank_prior

    p_att = torch.linspace(0.0, 1.0, 50)[torch.randperm(50, generator=torch.Generator().manual_seed(0))]
    fg = torch.tensor([0.0, 1.0])
    paper = rank_prior(p_att, fg, form="paper", sigma=0.3)
    code = rank_prior(p_att, fg, form="code")
    assert torch.allclose(paper.sum(), torch.tensor(1.0)) and torch.allclose(code.sum(), torch.tensor(1.0))
    top = int(p_att.argmax())
    assert float(paper[top, 1]) > 10 * float(paper[top, 0])
    assert float(code.max() / code.min()) < 1.01


def test_cosine_cluster_head_has_unit_prototypes_and_no_bias():
    model = CASE(24, 2, CASEConfig(n_clusters=4, hidden=16))
    head = model.clu_head
    assert not any("bias" in n for n, _ in head.named_parameters())
    e = torch.rand(5, 16) * 3.0
    with torch.no_grad():
        logits = head(e)
        assert float(logits.abs().max()) <= 10.0 + 1e-5  # scale · cosine
        assert torch.allclose(head(2.0 * e), logits, atol=1e-5)  # invariant to the embedding's norm


def test_attention_loss_uses_every_snippet_normalised_per_video():
    """att_negatives="all": each video's positives and negatives are averaged separately, so a video
    of all-negative snippets (bar the selected ones) weighs as much as any other."""
    xs, labels, _ = sequences(4, seed=4)
    x = torch.zeros(4, 60, 24)
    m = torch.zeros(4, 60, dtype=torch.bool)
    for i, v in enumerate(xs):
        x[i, : len(v)] = torch.as_tensor(v)
        m[i, : len(v)] = True
    y = torch.zeros(4, 2)
    for i, lab in enumerate(labels):
        y[i, lab] = 1
    for form in ("all", "lowest"):
        model = CASE(24, 2, CASEConfig(n_clusters=4, hidden=16, dropout=0.0, att_negatives=form))
        losses = model._losses(x, m, y)
        assert all(torch.isfinite(v) for v in losses.values())
    # a constant attention of 1/2 gives GCE terms of equal size for positives and negatives:
    # per-video normalised, L_A is exactly their sum
    model = CASE(24, 2, CASEConfig(n_clusters=4, hidden=16, dropout=0.0, clustering=False))
    with torch.no_grad():
        model.att_head.weight.zero_()
        model.att_head.bias.zero_()
    gam = model.config.gamma
    expected = 2 * (1 - 0.5**gam) / gam
    assert abs(float(model._losses(x, m, y)["L_A"]) - expected) < 1e-5


def test_bad_setting_is_one_line_error():
    with pytest.raises(ValueError, match="fusion must be one of"):
        CASEConfig(fusion="mean")


def test_code_per_class_fusion_averages_three_curves():
    xs, labels, _ = sequences(8, seed=5)
    cfg = CASEConfig(n_clusters=4, hidden=16, epochs=2, fusion="per_class", dropout=0.0)
    o = CASE(24, 2, cfg).fit(xs, labels).infer(xs[0])
    expected = (torch.softmax(o.cas, -1) + o.p_att[:, None] + o.p_clu[:, None]) / 3
    assert torch.allclose(o.p_class, expected, atol=1e-6)
