"""The simulated annotator's review policy and cost model on hand-made cases."""

from __future__ import annotations

import pytest

from otcore.bench.annotator import CostModel, effort_ratio, review_video, tiou
from otcore.types import Segment


def S(label: str, a: float, b: float, score: float | None = None) -> Segment:
    return Segment(label, a, b, score)


def test_tiou() -> None:
    assert tiou(S("a", 0, 2), S("a", 1, 3)) == pytest.approx(1 / 3)
    assert tiou(S("a", 0, 1), S("a", 1, 2)) == 0.0


def test_review_accepts_corrects_rejects_and_marks() -> None:
    truth = [S("jump", 0, 4), S("run", 10, 14), S("jump", 20, 22)]
    proposals = [
        S("jump", 0, 4, 0.9),  # exact: accept, no correction
        S("run", 11, 14, 0.8),  # tIoU .75: accept, start corrected
        S("jump", 1, 3, 0.7),  # the only free jump left is [20, 22): tIoU 0 -> reject
        S("run", 30, 31, 0.6),  # nothing there: reject
    ]
    out = review_video(proposals, truth)
    assert [g for _, g in out.accepted] == [truth[0], truth[1]]
    assert out.corrected_boundaries == 1
    assert list(out.rejected) == [proposals[2], proposals[3]]
    assert list(out.marked) == [truth[2]]
    assert out.final_segments == sorted(truth, key=lambda s: s.start)
    m = CostModel()
    assert out.cost(m) == pytest.approx(2 * 1 + 1 * 1 + 2 * 1 + 1 * 3)


def test_higher_scored_proposal_takes_the_segment_first() -> None:
    truth = [S("a", 0, 10)]
    weak, strong = S("a", 0, 6, 0.2), S("a", 1, 10, 0.9)
    out = review_video([weak, strong], truth)
    assert out.accepted[0][0] == strong and list(out.rejected) == [weak]


def test_boundary_tolerance() -> None:
    out = review_video([S("a", 0.4, 9.6, 1.0)], [S("a", 0, 10)], boundary_tol=0.5)
    assert out.corrected_boundaries == 0
    out = review_video([S("a", 0.4, 9.6, 1.0)], [S("a", 0, 10)], boundary_tol=0.0)
    assert out.corrected_boundaries == 2


def test_effort_ratio_is_one_when_nothing_is_proposed_and_lower_with_good_proposals() -> None:
    truth = [S("a", 0, 1), S("a", 5, 6)]
    m = CostModel()
    manual = review_video([], truth)
    assert effort_ratio([manual], n_initial_marks=3, model=m) == pytest.approx(1.0)
    perfect = review_video([S("a", 0, 1, 1.0), S("a", 5, 6, 1.0)], truth)
    assert effort_ratio([perfect], n_initial_marks=0, model=m) == pytest.approx(1 / 3)
    noisy = review_video([S("a", 0, 1, 1.0)] + [S("a", 9, 10, 0.1)] * 4, truth)
    assert effort_ratio([noisy], 0, m) > effort_ratio([perfect], 0, m)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        CostModel(reject=float("nan"))
    with pytest.raises(ValueError, match="positive"):
        CostModel(mark=0.0)
    with pytest.raises(ValueError, match="threshold"):
        review_video([], [], threshold=0.0)
    with pytest.raises(ValueError, match="undefined"):
        effort_ratio([], 0, CostModel())


def test_boundary_tolerance_counts_only_boundaries_beyond_it() -> None:
    truth = [S("a", 0, 10), S("b", 20, 30)]
    props = [S("a", 1, 10, 0.9), S("b", 22, 29, 0.8)]  # a: start 1 s off; b: 2 s and 1 s off
    exact = review_video(props, truth)
    assert exact.corrected_boundaries == 3
    one = review_video(props, truth, boundary_tol=1.0)  # one step at 1 fps
    assert one.corrected_boundaries == 1  # only b's start (2 s off) is moved
    assert [g for _, g in one.accepted] == [g for _, g in exact.accepted]  # same decisions
    assert exact.corrections(1.0) == 1 and one.corrections(0.0) == 3
    m = CostModel()
    assert one.cost(m) == pytest.approx(2 + 1) and one.cost(m, 0.0) == pytest.approx(2 + 3)
    assert effort_ratio([exact], 0, m, [1.0]) == pytest.approx(effort_ratio([one], 0, m))
    assert effort_ratio([one], 0, m, [0.0]) == pytest.approx(5 / 6)
    # a boundary exactly one step off at 15 fps (floating point) is within the tolerance
    fine = review_video([S("a", 0, 10 + 1 / 15, 0.5)], [S("a", 0, 10)], boundary_tol=1 / 15)
    assert fine.corrected_boundaries == 0
    with pytest.raises(ValueError, match="one tolerance per outcome"):
        effort_ratio([one], 0, m, [])
