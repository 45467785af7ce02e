r"""A simulated annotator: what a person does with proposals, and what it costs them.

Reviewing one video (:func:`review_video`). The person goes through the video's proposals from the
most to the least confident (the Review page's order within a video) and, for each proposal
:math:`p`, looks for a true segment :math:`g` of the same label that no earlier proposal took:

* the candidate :math:`g^\star = \arg\max_g \mathrm{tIoU}(p, g)`; if
  :math:`\mathrm{tIoU}(p, g^\star) \ge \theta` (0.5 by default, the usual detection threshold) the
  proposal is **accepted** and :math:`g^\star` is matched; each of its two boundaries that is more
  than ``boundary_tol`` seconds from :math:`g^\star`'s is **corrected** (moved onto it);
* otherwise it is **rejected**.

Boundary tolerance. A person does not move a boundary that already lies within the resolution of
the timeline: the app's features (and the playhead's keyboard step on the Review page) come one per
feature step, ``1 / fps`` of the project's features, so a boundary that is one step or less off is as
right as the person can see it. The loop uses that tolerance (``boundary_tol = 1 / fps`` seconds,
:class:`otcore.bench.loop.LoopConfig` ``boundary_steps = 1``) and also reports the effort at
tolerance 0 (every boundary not exactly on the truth is corrected) from the same run: tolerance
changes only what a correction costs, never which proposal is accepted.

Every true segment that no proposal matched is **marked** by hand. The result is the exact set of
segments the person ends with: the ground truth (accepted and corrected proposals become
:math:`g^\star`).

Cost model (:class:`CostModel`). Effort is counted in interactions of the app's keyboard flow: a new
mark is three (set the start, set the end, pick the label: ``i``, ``o``, a digit key), a boundary
correction one (move the playhead there and set it), an accept one key, a reject one key. These are
plain action counts, not seconds: published annotation-time studies measure whole annotation
protocols (e.g. single-frame vs full segment labelling of a video minute) rather than the unit
actions of a review interface, so no per-action timing could be taken from them. The weights are
settings; :func:`effort_ratio` divides the total by the cost of marking every true segment by hand
(``mark`` per segment), so all-manual annotation is 1.0 whatever the weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from otcore.types import Segment

__all__ = ["CostModel", "ReviewOutcome", "tiou", "review_video", "effort_ratio"]


@dataclass(frozen=True)
class CostModel:
    """Interactions per action (see the module doc). All must be finite and non-negative."""

    mark: float = 3.0
    correct_boundary: float = 1.0
    accept: float = 1.0
    reject: float = 1.0

    def __post_init__(self) -> None:
        for name in ("mark", "correct_boundary", "accept", "reject"):
            v = getattr(self, name)
            if not (v == v and 0.0 <= v < float("inf")):
                raise ValueError(f"cost {name} must be a finite non-negative number, got {v}")
        if self.mark <= 0:
            raise ValueError("the cost of a mark must be positive (it is the unit of the ratio)")


@dataclass(frozen=True)
class ReviewOutcome:
    """What the person did on one video: ``accepted`` pairs (proposal, matched true segment),
    ``rejected`` proposals, ``marked`` true segments no proposal found, and how many boundaries
    of accepted proposals were corrected."""

    accepted: tuple[tuple[Segment, Segment], ...]
    rejected: tuple[Segment, ...]
    marked: tuple[Segment, ...]
    corrected_boundaries: int

    def corrections(self, boundary_tol: float) -> int:
        """How many boundaries of accepted proposals lie more than ``boundary_tol`` seconds from the
        matched true segment's (``corrected_boundaries`` at another tolerance)."""
        return sum(_n_off(p, g, boundary_tol) for p, g in self.accepted)

    def cost(self, model: CostModel, boundary_tol: float | None = None) -> float:
        """Interactions spent on this video (corrections counted at ``boundary_tol`` seconds when
        given, else as reviewed)."""
        n_corr = self.corrected_boundaries if boundary_tol is None else self.corrections(boundary_tol)
        return (
            model.accept * len(self.accepted)
            + model.correct_boundary * n_corr
            + model.reject * len(self.rejected)
            + model.mark * len(self.marked)
        )

    @property
    def final_segments(self) -> list[Segment]:
        """The segments the video holds after the review: exactly the true segments."""
        out = [g for _, g in self.accepted] + list(self.marked)
        return sorted(out, key=lambda s: (s.start, s.end, s.label))


def _n_off(p: Segment, g: Segment, tol: float) -> int:
    # a hair of slack so that a boundary exactly one step off (t ± 1/fps in floating point) is within
    return int(abs(p.start - g.start) > tol + 1e-9) + int(abs(p.end - g.end) > tol + 1e-9)


def tiou(a: Segment, b: Segment) -> float:
    """Temporal IoU of two half-open segments."""
    inter = max(0.0, min(a.end, b.end) - max(a.start, b.start))
    union = (a.end - a.start) + (b.end - b.start) - inter
    return inter / union if union > 0 else 0.0


def review_video(
    proposals: Sequence[Segment],
    truth: Sequence[Segment],
    *,
    threshold: float = 0.5,
    boundary_tol: float = 0.0,
) -> ReviewOutcome:
    """Simulate the review of one video (see the module doc); ``boundary_tol`` in seconds."""
    if not (0.0 < threshold <= 1.0):
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if not (boundary_tol >= 0.0):
        raise ValueError(f"boundary_tol must be non-negative, got {boundary_tol}")
    order = sorted(proposals, key=lambda p: (-(p.score if p.score is not None else 0.0), p.start, p.label))
    free = list(truth)
    accepted: list[tuple[Segment, Segment]] = []
    rejected: list[Segment] = []
    corrected = 0
    for p in order:
        best, best_iou = None, 0.0
        for g in free:
            if g.label != p.label:
                continue
            iou = tiou(p, g)
            if iou > best_iou:
                best, best_iou = g, iou
        if best is not None and best_iou >= threshold:
            free.remove(best)
            accepted.append((p, best))
            corrected += _n_off(p, best, boundary_tol)
        else:
            rejected.append(p)
    return ReviewOutcome(tuple(accepted), tuple(rejected), tuple(free), corrected)


def effort_ratio(
    outcomes: Sequence[ReviewOutcome],
    n_initial_marks: int,
    model: CostModel,
    boundary_tol: Sequence[float] | None = None,
) -> float:
    """Effort of the whole collection over the all-manual effort.

    ``n_initial_marks`` are the marks made before the first proposal (the K shots per label);
    all-manual effort is ``mark`` × (those + every true segment of the reviewed videos).
    ``boundary_tol`` (seconds, one per outcome) recounts the corrections at that tolerance."""
    if boundary_tol is not None and len(boundary_tol) != len(outcomes):
        raise ValueError("boundary_tol needs one tolerance per outcome")
    n_true = n_initial_marks + sum(len(o.accepted) + len(o.marked) for o in outcomes)
    if n_true == 0:
        raise ValueError("no true segments: the effort ratio is undefined")
    tols: Sequence[float | None] = list(boundary_tol) if boundary_tol is not None else [None] * len(outcomes)
    spent = model.mark * n_initial_marks + sum(o.cost(model, t) for o, t in zip(outcomes, tols))
    return spent / (model.mark * n_true)
