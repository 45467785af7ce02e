"""CLOT: the three OT levels train, each part can be switched off, the SW term enters the cost."""

from __future__ import annotations

import pytest
import torch
from test_asot import phase_videos  # same folder (pytest prepend import mode)

from otcore.methods.clot import CLOT, CLOTConfig
from otcore.metrics import mof

pytestmark = pytest.mark.usefixtures("one_thread")


def test_clot_segments_ordered_phases_and_exposes_segment_plan():
    xs, ys = phase_videos(seed=2)
    model = CLOT(16, CLOTConfig(n_clusters=3, epochs=3, frames_per_video=64, seed=0)).fit(xs)
    preds = [model.predict(x, fps=5.0) for x in xs]
    assert mof([p.clusters.numpy() for p in preds], ys, hungarian="activity") > 0.8
    assert set(preds[0].plans) == {"frames×clusters", "frames×segments"}
    assert preds[0].plans["frames×segments"].shape == (len(ys[0]), 3)


@pytest.mark.parametrize(
    "switch", [dict(dispatch=False), dict(decoder=False), dict(refine=False), dict(sw_weight=0.0)]
)
def test_ablation_switches_run(switch):
    xs, _ = phase_videos(n_videos=2, seed=3)
    model = CLOT(16, CLOTConfig(n_clusters=3, epochs=1, frames_per_video=32, seed=0, **switch)).fit(xs)
    pred = model.predict(xs[0])
    assert pred.clusters.shape == (xs[0].shape[0],)
    assert ("frames×segments" in pred.plans) == switch.get("decoder", True)


def test_sliced_wasserstein_term_changes_the_cost():
    torch.manual_seed(0)
    f = torch.nn.functional.normalize(torch.randn(10, 8), dim=-1)
    a = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)
    with_sw = CLOT(8, CLOTConfig(n_clusters=3, out_dim=8, sw_weight=0.5))
    without = CLOT(8, CLOTConfig(n_clusters=3, out_dim=8, sw_weight=0.0))
    c1, c0 = with_sw.cost(f, a), without.cost(f, a)
    assert torch.allclose(c0, 1 - f @ a.T)
    assert (c1 - c0).min() >= 0 and (c1 - c0).max() > 0


def test_three_losses_all_have_gradients():
    xs, _ = phase_videos(n_videos=1, seed=4)
    model = CLOT(16, CLOTConfig(n_clusters=3, seed=0))
    loss = model.step_loss(torch.as_tensor(xs[0][:40]))
    loss.backward()
    assert model.queries.grad is not None and model.queries.grad.abs().sum() > 0
    assert model.gate_alpha.grad is not None
    assert model.actions.grad.abs().sum() > 0


def test_code_forms_train_and_segment():
    xs, ys = phase_videos(seed=2)
    cfg = CLOTConfig(
        n_clusters=3, epochs=3, frames_per_video=64, seed=0, dispatch_form="code", sw_form="code"
    )
    preds = [p.clusters.numpy() for p in (CLOT(16, cfg).fit(xs).predict(x) for x in xs)]
    assert mof(preds, ys, hungarian="activity") > 0.6


def test_code_sw_cost_sorts_over_frames():
    """The code's SW cost depends on the set of frames, not on their order: row i is the i-th order
    statistic of every slice, so permuting the frames leaves the matrix unchanged."""
    from otcore.methods.clot import _sw_cost, _sw_sorted_cost

    g = torch.Generator().manual_seed(0)
    f = torch.nn.functional.normalize(torch.randn(12, 8, generator=g), dim=-1)
    a = torch.nn.functional.normalize(torch.randn(3, 8, generator=g), dim=-1)
    perm = torch.randperm(12, generator=g)
    c = _sw_sorted_cost(f, a, 16, seed=0)
    assert c.shape == (12, 3) and bool((c >= 0).all())
    torch.testing.assert_close(_sw_sorted_cost(f[perm], a, 16, seed=0), c)
    # the pointwise form follows the frames instead
    torch.testing.assert_close(_sw_cost(f[perm], a, 16, seed=0), _sw_cost(f, a, 16, seed=0)[perm])


def test_code_dispatch_uses_one_action_per_frame():
    """Hard dispatch: an action that is no frame's best match aggregates only itself."""
    model = CLOT(4, CLOTConfig(n_clusters=2, out_dim=4, dispatch_form="code", hidden=()))
    with torch.no_grad():
        model.encoder.net[0].weight.copy_(torch.eye(4))
        model.encoder.net[0].bias.zero_()
        model.actions.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]]))
        f = torch.tensor([[1.0, 0.1, 0, 0], [0.9, 0, 0.1, 0]])  # both frames nearest action 0
        out = model.embed(f)
        fn = torch.nn.functional.normalize(f, dim=-1)
        a = model.action_embeddings()
        phi = torch.sigmoid(model.gate_beta + model.gate_alpha * fn @ a.T)
        agg0 = (phi[:, 0:1] * fn).sum(0) + a[0]
        agg = torch.stack([agg0 / 3.0, a[1] / 1.0])
        torch.testing.assert_close(out, torch.nn.functional.normalize(fn + phi @ agg, dim=-1))


def test_bad_form_is_one_line_error():
    with pytest.raises(ValueError, match="sw_form"):
        CLOTConfig(sw_form="sorted")
