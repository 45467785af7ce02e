"""Zero-shot proposals from label names, tested on a tiny CLIP that the test trains itself.

The text and image towers of the tiny model are trained contrastively on synthetic frames and
their captions (:mod:`tests.tiny_clip`), saved to a checkpoint and loaded through the app's loading
path, so that label names really carry meaning; the video below is never seen in training.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from otcore.methods.zeroshot import (
    DEFAULT_TEMPLATES,
    class_text_features,
    label_text,
    propose_segments,
    zero_shot_probs,
)
from otcore.metrics.detection import segment_iou
from tests.tiny_clip import synthetic_video, train_tiny_clip

pytestmark = [pytest.mark.usefixtures("one_thread")]

FPS = 2.0


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory):
    from otcore.video.encoders import load_clip

    torch.set_num_threads(1)
    path = train_tiny_clip(tmp_path_factory.mktemp("tinyclip") / "otstudio-tiny.pt", steps=250)
    return load_clip("otstudio-tiny", None, weights_file=path, device="cpu")


def tiou(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(segment_iou(b, np.asarray([a]))[0])


def _video(seed: int) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    return synthetic_video(seed, FPS)


def _propose(enc, frames: np.ndarray, labels: list[str]):
    feats = enc.encode_images(frames)
    text = class_text_features(enc.encode_text, labels)
    scale = float(enc.model.logit_scale.detach().exp())
    return propose_segments(feats, FPS, labels, text, scale)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12])
def test_zero_shot_proposals_find_the_named_spans(tiny_clip, seed: int) -> None:
    frames, truth = _video(seed)
    labels = ["green_square", "red_square", "blue_disc"]  # order differs from the video's
    pred = _propose(tiny_clip, frames, labels)
    assert len(pred.segments) == len(truth), pred.segments
    for label, start, end in truth:
        best = max(
            (s for s in pred.segments if s.label == label),
            key=lambda s: tiou((s.start, s.end), (start, end)),
            default=None,
        )
        assert best is not None, f"no proposal for {label}: {pred.segments}"
        assert tiou((best.start, best.end), (start, end)) >= 0.5
        assert best.score is not None and 0.0 < best.score <= 1.0
    assert pred.frame_scores is not None and pred.frame_scores.shape == (len(frames), len(labels) + 1)


@pytest.mark.slow
def test_zero_shot_labels_follow_the_text(tiny_clip) -> None:
    """The span of the named concept gets that name and the best score; a name absent from the
    video never takes that span (the tiny model cannot reject the other shapes outright: they are
    proposed with lower scores, which the Review page sorts last)."""
    frames, _ = _video(13)
    pred = _propose(tiny_clip, frames, ["yellow_disc", "red_square"])
    red = [s for s in pred.segments if tiou((s.start, s.end), (5.0, 11.0)) >= 0.5]
    assert [s.label for s in red] == ["red_square"]
    assert red[0].score == max(s.score or 0.0 for s in pred.segments)
    assert all(tiou((s.start, s.end), (5.0, 11.0)) == 0.0 for s in pred.segments if s.label == "yellow_disc")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 13])
def test_a_label_with_a_meaningless_name_is_found_by_its_description(tiny_clip, seed: int) -> None:
    """ "dax" means nothing to the text tower; described as the caption of the green square it is
    proposed on the green square's span, and without the description it is not (it lands elsewhere)."""
    frames, truth = _video(seed)
    green = next((s, e) for label, s, e in truth if label == "green_square")
    feats = tiny_clip.encode_images(frames)
    scale = float(tiny_clip.model.logit_scale.detach().exp())
    labels = ["dax", "blue_disc"]

    def dax_spans(descriptions: dict[str, str] | None) -> list[tuple[float, float]]:
        text = class_text_features(tiny_clip.encode_text, labels, descriptions=descriptions)
        pred = propose_segments(feats, FPS, labels, text, scale)
        return [(s.start, s.end) for s in pred.segments if s.label == "dax"]

    described = dax_spans({"dax": "a green square."})
    assert any(tiou(span, green) >= 0.5 for span in described), described
    plain = dax_spans(None)
    assert plain and all(tiou(span, green) < 0.5 for span in plain), plain


def test_class_text_features_are_unit_rows_of_the_template_mean() -> None:
    def encode(texts: list[str]) -> torch.Tensor:
        # a fake tower that depends on the text: one-hot of its length
        out = torch.zeros(len(texts), 64)
        for i, t in enumerate(texts):
            out[i, len(t) % 64] = 2.0
        return out

    w = class_text_features(encode, ["a", "b_c"], descriptions={"a": "someone jumps high"})
    assert w.shape == (2, 64)
    assert torch.allclose(w.norm(dim=1), torch.ones(2))
    expected = torch.zeros(64)
    for t in DEFAULT_TEMPLATES:
        expected[len(t.format("someone jumps high")) % 64] += 1.0
    assert torch.allclose(w[0], expected / expected.norm())
    assert label_text("b_c") == "b c" and label_text("x", "  described  ") == "described"
    assert label_text("x", "two\n lines. ") == "two lines"  # the templates add the full stop


def test_bad_inputs_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="at least one label"):
        class_text_features(lambda t: torch.zeros(len(t), 4), [])
    with pytest.raises(ValueError, match="placeholder"):
        class_text_features(lambda t: torch.zeros(len(t), 4), ["a"], templates=("no slot",))
    with pytest.raises(ValueError, match="share D"):
        zero_shot_probs(torch.zeros(3, 4), torch.zeros(2, 5), 10.0)
    with pytest.raises(ValueError, match="fps"):
        propose_segments(torch.zeros(3, 4), 0.0, ["a"], torch.zeros(1, 4), 10.0)
    with pytest.raises(ValueError, match="logit_scale"):
        zero_shot_probs(torch.zeros(3, 4), torch.zeros(2, 4), float("nan"))


def test_empty_video_has_no_proposals() -> None:
    pred = propose_segments(torch.zeros(0, 4), 2.0, ["a"], torch.eye(4)[:1], 10.0)
    assert pred.segments == []
