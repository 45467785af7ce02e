"""CoOp prompts around the frozen open_clip text tower."""

from __future__ import annotations

import pytest
import torch

from otcore.methods.prompts import PromptEncoder, TextEncoder, load_text_tower

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tower():
    return load_text_tower("otstudio-tiny", seed=0)


def test_truncated_encoder_matches_open_clip(tower):
    tokens = tower.tokenizer(["a person doing a bench press.", "squat"])
    ref = tower.model.encode_text(tokens)
    enc = TextEncoder(tower.model)
    out = enc(tower.model.token_embedding(tokens), tokens)
    assert torch.allclose(out, ref, atol=1e-5)


def test_prompt_features_shape_and_gradients(tower):
    pe = PromptEncoder.from_tower(
        tower,
        ["bench press", "squat", "pull up"],
        n_prompts=3,
        n_ctx=4,
        generator=torch.Generator().manual_seed(0),
    )
    g = pe()
    assert g.shape == (3, 3, tower.embed_dim)
    assert torch.allclose(g.norm(dim=-1), torch.ones(3, 3), atol=1e-5)
    trainable = [n for n, p in pe.named_parameters() if p.requires_grad]
    assert trainable == ["learner.ctx"]
    g[:, 0].sum().backward()
    assert pe.learner.ctx.grad is not None and pe.learner.ctx.grad[:, 0].abs().sum() > 0
    assert torch.all(pe.learner.ctx.grad[:, 1:] == 0)  # prompt 1, 2 did not enter the loss
    # different prompts of one class differ (random context), and classes differ (names)
    assert not torch.allclose(g[0, 0], g[0, 1])


def test_shared_context_and_determinism(tower):
    a = PromptEncoder.from_tower(
        tower, ["a", "b"], n_prompts=1, shared_context=True, generator=torch.Generator().manual_seed(1)
    )
    b = PromptEncoder.from_tower(
        tower, ["a", "b"], n_prompts=1, shared_context=True, generator=torch.Generator().manual_seed(1)
    )
    assert a.learner.ctx.shape[0] == 1
    assert torch.equal(a(), b())
    t2 = load_text_tower("otstudio-tiny", seed=0)
    assert not t2.pretrained
    assert torch.equal(next(t2.model.parameters()), next(tower.model.parameters()))
