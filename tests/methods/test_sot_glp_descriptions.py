"""Class descriptions as prompt text (PLOT-TAL verbose / CoOp / SOT-GLP) through the tiny-CLIP path."""

from __future__ import annotations

import pytest
import torch

from otcore.methods.class_text import class_texts
from otcore.methods.prompts import PromptEncoder, load_text_tower
from otcore.methods.sot_glp import fit_clips

pytestmark = pytest.mark.usefixtures("one_thread")


def test_class_texts_rules() -> None:
    names = ["high_jump", "swing", "run"]
    desc = {"swing": "  a player swings\n the racket.  ", "run": "", "other": "ignored"}
    assert class_texts(names) == ["high jump", "swing", "run"]
    assert class_texts(names, desc) == ["high jump", "a player swings the racket", "run"]
    assert class_texts(names, desc, include_name=True)[1] == "swing: a player swings the racket"
    long = {"run": " ".join(f"w{i}" for i in range(100))}
    assert len(class_texts(names, long, max_words=10)[2].split()) == 10
    with pytest.raises(ValueError):
        class_texts(names, desc, max_words=0)


def test_the_text_tower_encodes_the_description() -> None:
    tower = load_text_tower("otstudio-tiny", seed=0)
    names = ["jump", "swing"]

    def features(texts: list[str]) -> torch.Tensor:
        enc = PromptEncoder.from_tower(tower, texts, n_prompts=1, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            return enc()[:, 0]

    plain = features(class_texts(names))
    verbose = features(class_texts(names, {"swing": "a player swings a racket at a ball"}))
    assert torch.allclose(plain[0], verbose[0], atol=1e-6)  # no description: the same prompt
    assert not torch.allclose(plain[1], verbose[1], atol=1e-3)  # description: a different text feature


def test_fit_clips_with_descriptions_keeps_the_labels() -> None:
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(2, 16, generator=gen) * 3
    clips = [centres[i % 2] + torch.randn(5, 16, generator=gen) for i in range(8)]
    labels = [i % 2 for i in range(8)]
    tower = load_text_tower("otstudio-tiny", seed=0)
    from otcore.methods.sot_glp import SotGlpConfig

    cfg = SotGlpConfig(epochs=5, seed=0)
    a = fit_clips(clips, labels, ["jump", "swing"], cfg, tower=tower)
    b = fit_clips(clips, labels, ["jump", "swing"], cfg, tower=tower, descriptions={"swing": "hits a ball"})
    assert b.class_names == ["jump", "swing"]
    assert not torch.allclose(a.global_prompts()[1], b.global_prompts()[1], atol=1e-3)
