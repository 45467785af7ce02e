"""Which proposals are shown: nothing over marked time, same-label overlaps suppressed (the
better score stays), partial overlaps kept (for the timeline's sub-lanes)."""

from __future__ import annotations

from dataclasses import dataclass

from otcore.review import visible_proposals


@dataclass(frozen=True)
class Seg:
    id: int
    label: str
    start: float
    end: float
    source: str
    score: float | None = None
    video_id: int = 1


def test_hidden_over_marks_and_suppressed_overlaps() -> None:
    segs = [
        Seg(1, "jump", 10.0, 12.0, "manual"),
        Seg(2, "jump", 1.0, 4.0, "predicted", 0.9),
        Seg(3, "jump", 3.0, 6.0, "predicted", 0.6),  # a third overlaps 2: kept
        Seg(4, "jump", 1.2, 3.8, "predicted", 0.95),  # better than 2 and inside it: 2 is suppressed
        Seg(5, "jump", 10.5, 11.5, "predicted", 0.8),  # over marked time
        Seg(6, "run", 1.0, 4.0, "predicted", 0.1),  # another label: not suppressed by jump
        Seg(7, "jump", 10.0, 11.0, "predicted", 0.9, video_id=2),  # marks of video 1 do not count
    ]
    shown = {s.id for s in visible_proposals(segs)}
    assert shown == {1, 3, 4, 6, 7}


def test_a_proposal_barely_touching_a_mark_stays() -> None:
    segs = [Seg(1, "a", 0.0, 1.0, "corrected"), Seg(2, "b", 0.95, 5.0, "predicted", 0.5)]
    assert [s.id for s in visible_proposals(segs)] == [1, 2]
