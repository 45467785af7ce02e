"""Review logic: which proposals to look at first and which video to annotate next.

Pure functions over segment records (anything with ``id, video_id, label, start, end, source,
score`` — e.g. :class:`otcore.store.SegmentInfo`); no store or UI imports.

Definitions
-----------
* The **confidence** of a proposal is its score clipped to ``[0, 1]``; a proposal without
  a score has confidence 0 (nothing vouches for it). Methods in this project emit scores
  in ``[0, 1]`` (transport mass / class probability); other scores are clipped, not rescaled.
* The **uncertainty** of a proposal is ``u = 1 - confidence``. Proposals are reviewed in
  decreasing ``u`` (lowest confidence first); ties by video, then start time.
* The **uncertainty of a video** is the mean ``u`` over its pending proposals (segments
  with ``source == "predicted"``): ``U(v) = (1/|P_v|) Σ_{p ∈ P_v} (1 - conf(p))``.
  *Which video next* is ``argmax_v U(v)`` over videos with at least one pending proposal;
  ties go to the video with more pending proposals, then to the one with fewer segments
  a person already owns (manual/corrected), then the smaller id. The mean, not the sum,
  so a long video is not preferred just for being long; the proposal count breaks ties.
  That is ``first="uncertain"`` (active learning: the person's corrections land where the model
  is least sure). ``first="confident"`` is the opposite, ``argmin_v U(v)``: the video whose
  proposals are most likely right comes first (ties: more pending proposals, fewer owned, smaller id).

Which proposals are shown (:func:`visible_proposals`)
-----------------------------------------------------
A proposal is hidden (display only; the store keeps it pending) when

* more than ``covered`` (10 %) of its span lies in time the person marked (any manual or
  corrected segment of the video, whatever the label): nothing is proposed over marked time;
* or, among the proposals of its label on its video taken by decreasing score, it overlaps an
  already kept one by more than ``overlap`` (50 %) of the shorter of the two (non-maximum
  suppression on intersection over the minimum). Partial overlaps that survive are drawn on
  stacked sub-lanes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "visible_proposals",
    "ReviewItem",
    "VideoUncertainty",
    "confidence",
    "uncertainty",
    "proposals_by_uncertainty",
    "rank_videos",
    "next_video",
    "VIDEO_ORDERS",
]

_OWNED = ("manual", "corrected")
VIDEO_ORDERS = ("uncertain", "confident")


@dataclass(frozen=True)
class ReviewItem:
    """One pending proposal with its uncertainty (``1 - confidence``)."""

    seg_id: int
    video_id: int
    video_name: str
    label: str
    start: float
    end: float
    score: float | None
    uncertainty: float


@dataclass(frozen=True)
class VideoUncertainty:
    """How uncertain a video's pending proposals are (see the module doc for ``U(v)``)."""

    video_id: int
    video_name: str
    n_proposals: int
    mean_uncertainty: float
    min_confidence: float
    n_owned: int


def confidence(score: float | None) -> float:
    """``score`` clipped to ``[0, 1]``; ``None`` or NaN count as 0."""
    if score is None or (isinstance(score, float) and math.isnan(score)):
        return 0.0
    return min(1.0, max(0.0, float(score)))


def uncertainty(score: float | None) -> float:
    """``1 - confidence(score)``: 1 for an unscored proposal, 0 for a certain one."""
    return 1.0 - confidence(score)


def _name(names: Mapping[int, str] | None, vid: int) -> str:
    return (names or {}).get(vid, f"video {vid}")


def proposals_by_uncertainty(
    segments: Iterable[Any], video_names: Mapping[int, str] | None = None
) -> list[ReviewItem]:
    """The pending proposals (``source == "predicted"``) among ``segments``, lowest confidence
    first (ties: video id, start, label)."""
    items = [
        ReviewItem(
            int(s.id),
            int(s.video_id),
            _name(video_names, int(s.video_id)),
            s.label,
            float(s.start),
            float(s.end),
            s.score,
            uncertainty(s.score),
        )
        for s in segments
        if s.source == "predicted"
    ]
    items.sort(key=lambda it: (-it.uncertainty, it.video_id, it.start, it.label, it.seg_id))
    return items


def rank_videos(
    segments: Iterable[Any], video_names: Mapping[int, str] | None = None, *, first: str = "uncertain"
) -> list[VideoUncertainty]:
    """Videos with pending proposals, most uncertain first (``U(v)`` descending, ties as in
    the module doc), or most confident first with ``first="confident"``. Videos without proposals
    are not ranked."""
    if first not in VIDEO_ORDERS:
        raise ValueError(f"first must be one of {VIDEO_ORDERS}, got {first!r}")
    sign = -1.0 if first == "uncertain" else 1.0
    us: dict[int, list[float]] = defaultdict(list)
    owned: dict[int, int] = defaultdict(int)
    for s in segments:
        vid = int(s.video_id)
        if s.source == "predicted":
            us[vid].append(uncertainty(s.score))
        elif s.source in _OWNED:
            owned[vid] += 1
    ranked = [
        VideoUncertainty(vid, _name(video_names, vid), len(u), sum(u) / len(u), 1.0 - max(u), owned[vid])
        for vid, u in us.items()
    ]
    ranked.sort(key=lambda r: (sign * r.mean_uncertainty, -r.n_proposals, r.n_owned, r.video_id))
    return ranked


def next_video(
    segments: Iterable[Any], video_names: Mapping[int, str] | None = None, *, first: str = "uncertain"
) -> VideoUncertainty | None:
    """The video to review next (the first of :func:`rank_videos`), or ``None`` when no video
    has pending proposals."""
    ranked = rank_videos(segments, video_names, first=first)
    return ranked[0] if ranked else None


def _covered(start: float, end: float, spans: list[tuple[float, float]]) -> float:
    """Length of ``[start, end)`` inside the union of ``spans`` (sorted by start)."""
    total, cur_a, cur_b = 0.0, None, None
    for a, b in spans:
        a, b = max(a, start), min(b, end)
        if b <= a:
            continue
        if cur_b is None or a > cur_b:
            if cur_b is not None and cur_a is not None:
                total += cur_b - cur_a
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    if cur_b is not None and cur_a is not None:
        total += cur_b - cur_a
    return total


def visible_proposals(segments: Iterable[Any], *, covered: float = 0.1, overlap: float = 0.5) -> list[Any]:
    """``segments`` without the proposals that are hidden (see the module doc): owned and
    other segments pass through unchanged, in their order."""
    segs = list(segments)
    marks: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for s in segs:
        if s.source in _OWNED:
            marks[int(s.video_id)].append((float(s.start), float(s.end)))
    for spans in marks.values():
        spans.sort()
    hidden: set[int] = set()
    groups: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for s in segs:
        if s.source != "predicted":
            continue
        a, b = float(s.start), float(s.end)
        length = max(b - a, 1e-9)
        if _covered(a, b, marks.get(int(s.video_id), [])) > covered * length:
            hidden.add(int(s.id))
        else:
            groups[(int(s.video_id), s.label)].append(s)
    for props in groups.values():
        props.sort(key=lambda p: (-confidence(p.score), float(p.start), int(p.id)))
        kept: list[Any] = []
        for p in props:
            a, b = float(p.start), float(p.end)
            clash = False
            for k in kept:
                inter = min(b, float(k.end)) - max(a, float(k.start))
                shorter = min(b - a, float(k.end) - float(k.start))
                if inter > 0 and inter > overlap * max(shorter, 1e-9):
                    clash = True
                    break
            if clash:
                hidden.add(int(p.id))
            else:
                kept.append(p)
    return [s for s in segs if s.source != "predicted" or int(s.id) not in hidden]
