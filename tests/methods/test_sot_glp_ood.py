"""SOT-GLP's out-of-distribution scores on synthetic clips of known and unknown classes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from otcore.bench.ood import auroc
from otcore.methods.sot_glp import (
    OOD_SCORES,
    SegmentScorer,
    SotGlpConfig,
    fit_clips,
    ood_scores,
    pad_clips,
    span_ood_scores,
)

pytestmark = pytest.mark.usefixtures("one_thread")

DIM = 32
KNOWN = ["a", "b", "c"]


def _clips(gen: torch.Generator, centre: torch.Tensor, n: int, noise: float = 0.6) -> list[torch.Tensor]:
    out = []
    for _ in range(n):
        t = int(torch.randint(3, 8, (1,), generator=gen))
        out.append(centre + noise * torch.randn(t, DIM, generator=gen))
    return out


@pytest.fixture(scope="module")
def problem() -> Iterator[tuple[SegmentScorer, list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]]:
    """Three known classes (5 shots each) and two unknown ones, centres on separate directions."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(5, DIM, generator=gen) * 2.0
    support, labels = [], []
    for i in range(3):
        support += _clips(gen, centres[i], 5)
        labels += [i] * 5
    id_test = [c for i in range(3) for c in _clips(gen, centres[i], 8)]
    ood_test = [c for i in (3, 4) for c in _clips(gen, centres[i], 8)]
    model = fit_clips(support, labels, KNOWN, SotGlpConfig(epochs=40, seed=0))
    yield model, support, id_test, ood_test
    torch.set_num_threads(before)


def test_scores_separate_unknown_classes(problem) -> None:
    model, _, id_test, ood_test = problem
    x, mask = pad_clips(id_test + ood_test)
    s = ood_scores(model, x, mask)
    assert set(s) == set(OOD_SCORES)
    assert all(v.shape == (len(id_test) + len(ood_test),) for v in s.values())
    n = len(id_test)
    a = auroc(s["sot-glp"][:n].numpy(), s["sot-glp"][n:].numpy())
    assert a > 0.9
    # the local-global score is the sum of its two maximum-softmax terms, each in (0, 1]
    assert torch.allclose(s["sot-glp"], s["global"] + s["native-local"])
    assert float(s["global"].min()) >= 1 / 3 - 1e-6 and float(s["global"].max()) <= 1 + 1e-6
    # MSP and energy are from the mixed logits of the same model
    with torch.no_grad():
        logits = model(x, mask)
    assert torch.allclose(s["msp"], torch.softmax(logits, -1).amax(-1), atol=1e-6)
    assert torch.allclose(s["energy"], torch.logsumexp(logits, -1), atol=1e-5)


def test_native_local_score_of_a_support_clip_is_near_one_for_its_class(problem) -> None:
    model, support, _, _ = problem
    x, mask = pad_clips(support[:1] + support[5:6])  # one clip of class a, one of class b
    with torch.no_grad():
        s_nat = model.native_local_scores(x, mask)
    assert s_nat.shape == (2, 3)
    assert s_nat.argmax(-1).tolist() == [0, 1]
    assert float(s_nat[0, 0]) > 0.6 and float(s_nat[1, 1]) > 0.6
    assert float(s_nat[0, 0]) > float(s_nat[0, 1]) + 0.3


def test_export_keeps_the_support_frames(problem) -> None:
    model, _, id_test, ood_test = problem
    x, mask = pad_clips(id_test[:3] + ood_test[:3])
    again = SegmentScorer.from_export(model.export())
    assert again.support_rows.shape == model.support_rows.shape
    a, b = ood_scores(model, x, mask), ood_scores(again, x, mask)
    assert torch.allclose(a["sot-glp"], b["sot-glp"], atol=1e-5)


def test_class_subset_and_spans(problem) -> None:
    model, _, id_test, ood_test = problem
    x, mask = pad_clips(id_test[:2])
    sub = ood_scores(model, x, mask, classes=["a", "b"])
    assert float(sub["global"].min()) >= 0.5 - 1e-6  # softmax over two classes
    with pytest.raises(ValueError, match="unknown classes"):
        ood_scores(model, x, mask, classes=["zzz"])
    video = torch.cat([id_test[0], ood_test[0]])
    n0 = id_test[0].shape[0]
    spans = [(0.0, n0 / 2.0), (n0 / 2.0, video.shape[0] / 2.0)]
    out = span_ood_scores(model, video, 2.0, spans)
    assert len(out) == 2 and out[0] > out[1]  # the known-class span scores higher
    assert span_ood_scores(model, video, 2.0, []) == []
    with pytest.raises(ValueError, match="unknown OOD score"):
        span_ood_scores(model, video, 2.0, spans, kind="nope")
