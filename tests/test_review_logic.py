"""Review ordering: lowest confidence first, and the most uncertain video next."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from otcore.review import confidence, next_video, proposals_by_uncertainty, rank_videos, uncertainty


@dataclass(frozen=True)
class Seg:
    id: int
    video_id: int
    label: str
    start: float
    end: float
    source: str
    score: float | None


def test_confidence_and_uncertainty_clip_and_default():
    assert confidence(None) == 0.0 and uncertainty(None) == 1.0
    assert confidence(float("nan")) == 0.0
    assert confidence(1.7) == 1.0 and confidence(-0.2) == 0.0
    assert uncertainty(0.25) == pytest.approx(0.75)


def test_proposals_sorted_lowest_confidence_first_and_only_predicted():
    segs = [
        Seg(1, 1, "a", 0, 1, "predicted", 0.9),
        Seg(2, 1, "a", 2, 3, "manual", None),  # not a proposal
        Seg(3, 2, "b", 5, 6, "predicted", 0.2),
        Seg(4, 2, "b", 1, 2, "predicted", None),  # unscored: most uncertain
        Seg(5, 1, "a", 4, 5, "corrected", 0.1),  # already reviewed
        Seg(6, 1, "b", 3, 4, "predicted", 0.2),  # tie with 3: video 1 first
    ]
    items = proposals_by_uncertainty(segs, {1: "one.mp4", 2: "two.mp4"})
    assert [it.seg_id for it in items] == [4, 6, 3, 1]
    assert items[0].uncertainty == 1.0 and items[0].video_name == "two.mp4"
    scores = [it.score or 0.0 for it in items]
    assert scores == sorted(scores)


def test_next_video_is_the_least_certain_on_average():
    segs = [
        # video 1: many confident proposals and one doubtful: mean u = (0.1*3 + 0.7)/4 = 0.25
        *[Seg(i, 1, "a", i, i + 1, "predicted", 0.9) for i in range(3)],
        Seg(10, 1, "a", 10, 11, "predicted", 0.3),
        # video 2: two middling proposals: mean u = 0.5
        Seg(20, 2, "a", 0, 1, "predicted", 0.5),
        Seg(21, 2, "a", 2, 3, "predicted", 0.5),
        # video 3: only manual segments: not ranked
        Seg(30, 3, "a", 0, 1, "manual", None),
    ]
    ranked = rank_videos(segs)
    assert [r.video_id for r in ranked] == [2, 1]
    assert ranked[0].mean_uncertainty == pytest.approx(0.5)
    assert ranked[1].mean_uncertainty == pytest.approx(0.25)
    assert ranked[1].min_confidence == pytest.approx(0.3)
    assert next_video(segs).video_id == 2
    assert next_video([Seg(1, 1, "a", 0, 1, "manual", None)]) is None


def test_ties_prefer_more_proposals_then_fewer_owned_segments():
    segs = [
        Seg(1, 1, "a", 0, 1, "predicted", 0.5),
        Seg(2, 2, "a", 0, 1, "predicted", 0.5),
        Seg(3, 2, "a", 2, 3, "predicted", 0.5),
        Seg(4, 3, "a", 0, 1, "predicted", 0.5),
        Seg(5, 3, "a", 2, 3, "predicted", 0.5),
        Seg(6, 3, "a", 5, 6, "manual", None),
    ]
    assert [r.video_id for r in rank_videos(segs)] == [2, 3, 1]


def test_confident_first_is_the_reverse_order_and_bad_policy_refused():
    segs = [
        *[Seg(i, 1, "a", i, i + 1, "predicted", 0.9) for i in range(3)],
        Seg(10, 1, "a", 10, 11, "predicted", 0.3),  # video 1: mean u 0.25
        Seg(20, 2, "a", 0, 1, "predicted", 0.5),  # video 2: mean u 0.5
        Seg(30, 3, "a", 0, 1, "predicted", 0.8),  # video 3: mean u 0.2
    ]
    assert [r.video_id for r in rank_videos(segs)] == [2, 1, 3]
    assert [r.video_id for r in rank_videos(segs, first="confident")] == [3, 1, 2]
    assert next_video(segs, first="confident").video_id == 3
    with pytest.raises(ValueError, match="first must be one of"):
        rank_videos(segs, first="longest")
