"""VAOT alignment on fixed features and with the self-supervised encoder; DTW and linear baselines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from otcore.methods.align import AlignSettings, align_videos, dtw_align, linear_align, train_alignment

pytestmark = pytest.mark.usefixtures("one_thread")


def two_videos(seed: int = 0, d: int = 12):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(4, d)) * 3
    ya = np.repeat([0, 1, 2, 3], [20, 10, 30, 15])
    yb = np.repeat([0, 1, 2, 3], [10, 25, 15, 20])
    xa = (means[ya] + rng.normal(size=(len(ya), d))).astype(np.float32)
    xb = (means[yb] + rng.normal(size=(len(yb), d))).astype(np.float32)
    return xa, ya, xb, yb


def _acc(match, ya, yb) -> float:
    match = np.asarray(match)
    ok = match >= 0
    return float(np.mean(np.where(ok, ya == yb[np.clip(match, 0, None)], False)))


def test_vaot_aligns_same_order_different_speeds():
    xa, ya, xb, yb = two_videos()
    res = align_videos(xa, xb, AlignSettings())
    assert res.plan.shape == (len(ya) + 1, len(yb) + 1)
    assert res.match.shape == (len(ya),) and res.match_back.shape == (len(yb),)
    # balanced OT with uniform marginals matches time quantiles guided by the features: well above
    # chance (4 phases), close to the linear stretch on this easy case, and mostly order-preserving
    assert _acc(res.match.numpy(), ya, yb) > 0.6
    assert np.corrcoef(np.arange(len(ya)), res.match.numpy())[0, 1] > 0.6


def test_dummy_takes_frames_below_zeta():
    xa, ya, xb, yb = two_videos(1)
    res = align_videos(xa, xb, AlignSettings(zeta=0.99))
    assert (res.match < 0).any()


def test_dtw_and_linear_baselines():
    xa, ya, xb, yb = two_videos(2)
    m = dtw_align(xa, xb).numpy()
    assert m.shape == (len(ya),) and (np.diff(m) >= 0).all() and m[0] == 0 and m[-1] == len(yb) - 1
    assert _acc(m, ya, yb) > 0.9
    lin = linear_align(5, 9).tolist()
    assert lin == [0, 2, 4, 6, 8]


def test_self_supervised_encoder_trains_and_aligns():
    xa, ya, xb, yb = two_videos(3)
    enc = train_alignment([xa, xb], AlignSettings(rho=0.1), epochs=2, frames=40, seed=0)
    res = align_videos(xa, xb, AlignSettings(), encoder=enc)
    assert _acc(res.match.numpy(), ya, yb) > 0.5


def test_residual_encoder_starts_from_the_input_features():

    from otcore.methods.align import VAOTEncoder

    x = torch.randn(30, 12)
    enc = VAOTEncoder(12, (16,), residual=True)
    assert torch.allclose(enc(x), torch.nn.functional.normalize(x, dim=-1))
    plain = VAOTEncoder(12, (16,), out_dim=5, residual=False)
    assert plain(x).shape == (30, 5)
    # the residual branch learns: one gradient step moves the output away from the identity
    opt = torch.optim.SGD(enc.parameters(), lr=0.5)
    loss = -(enc(x)[:, 0]).sum()
    loss.backward()
    opt.step()
    assert not torch.allclose(enc(x), torch.nn.functional.normalize(x, dim=-1))
