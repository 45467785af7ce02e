"""Seeded few-shot localization protocol on folders of per-clip features (e.g. ``gym_i3d``).

The folder holds trimmed clips ``<class>_<n>.npy`` (each ``[T, D]``, one row per feature
step). Long untrimmed-like sequences are built by concatenating clips, so every segment
boundary is known exactly.

Time unit
---------
One feature row is one time step, and sequences are reported at ``fps = 1.0`` (``SEQUENCE_FPS``):
a segment ``[s, e)`` in "seconds" is the row range ``s .. e-1``. Clip *i* of a sequence occupies
rows ``[offset_i, offset_i + T_i)``.

Protocol (``make_protocol``)
----------------------------
1. ``load_clips(root)`` reads every clip; the class is the file name before the last ``_<n>``.
2. Per class, the clips are shuffled (seeded) and split in halves: *train* clips and *test* clips
   (disjoint; a class with an odd count gives the extra clip to test).
3. ``split_classes``: ``n_target`` *target* classes are drawn (seeded) among the classes with at
   least ``min_clips`` clips; the remaining classes are *other* classes whose clips only appear as
   background (never labelled).
4. Support: for every target class, ``shots`` of its train clips are drawn. Training sequences
   (``n_train_sequences``) interleave all support clips (shuffled) with 1..``max_background_run``
   background train clips between consecutive actions; every target clip in a training sequence is
   marked, the rest is unlabelled background. So ``support`` = exactly K marked segments per target
   class, and nothing else in the training sequences belongs to a target class.
5. Test sequences (``n_test_sequences``) use the *test* clips only: every test clip of every target
   class appears exactly once, interleaved the same way with background test clips (re-drawn with
   replacement when they run out). Ground truth = the target-class segments.

The same seed always gives the same protocol (``numpy.random.default_rng(seed)`` throughout).

Also here
---------
- ``build_sequence(clips, rng, ...)``: concatenate clips into one ``Sequence`` (exact boundaries),
  optionally with background clips in between; reusable for other protocols (e.g. weak supervision:
  a sequence's video-level labels are ``sequence.labels()``).
- ``classification_episode(clips, shots, seed)``: K-shot classification of trimmed clips over all
  classes (support K clips per class, the rest of each class as queries).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from otcore.types import Segment

__all__ = [
    "SEQUENCE_FPS",
    "Clip",
    "Sequence",
    "FewShotProtocol",
    "ClassificationEpisode",
    "load_clips",
    "split_clips",
    "split_classes",
    "build_sequence",
    "make_protocol",
    "classification_episode",
]

#: Frame rate of generated sequences: one feature row per second (see module docstring).
SEQUENCE_FPS = 1.0

_T = TypeVar("_T")

_NAME = re.compile(r"^(?P<label>.+)_(?P<n>\d+)$")


@dataclass(frozen=True)
class Clip:
    """One trimmed clip: ``name`` (file stem), ``label`` (class) and ``features`` ``[T, D]`` float32."""

    name: str
    label: str
    features: np.ndarray

    @property
    def length(self) -> int:
        return int(self.features.shape[0])


@dataclass(frozen=True)
class Sequence:
    """A long sequence made of concatenated clips.

    ``features`` ``[T, D]`` float32 at ``fps``; ``segments`` are the labelled segments (seconds);
    ``clips`` lists ``(clip name, clip label, start row, end row)`` for every clip, labelled or not.
    """

    name: str
    features: np.ndarray
    segments: list[Segment]
    clips: list[tuple[str, str, int, int]]
    fps: float = SEQUENCE_FPS

    @property
    def n_frames(self) -> int:
        return int(self.features.shape[0])

    def labels(self) -> list[str]:
        """Sorted distinct labels of the labelled segments (video-level labels)."""
        return sorted({s.label for s in self.segments})


@dataclass(frozen=True)
class FewShotProtocol:
    """One seeded few-shot localization episode (see the module docstring)."""

    seed: int
    shots: int
    target_classes: list[str]
    other_classes: list[str]
    train: list[Sequence]
    test: list[Sequence]
    meta: dict[str, float] = field(default_factory=dict)

    def support(self) -> list[tuple[str, Segment]]:
        """The marked segments as ``(sequence name, segment)`` pairs (K per target class)."""
        return [(seq.name, s) for seq in self.train for s in seq.segments]


@dataclass(frozen=True)
class ClassificationEpisode:
    """K-shot classification: ``support`` and ``query`` clips, ``classes`` sorted."""

    seed: int
    shots: int
    classes: list[str]
    support: list[Clip]
    query: list[Clip]


def load_clips(root: str | Path) -> list[Clip]:
    """Read every ``<class>_<n>.npy`` in ``root`` (sorted by class, then n) as float32 ``[T, D]``."""
    root = Path(root)
    items: list[tuple[str, int, Path]] = []
    for path in root.glob("*.npy"):
        m = _NAME.match(path.stem)
        if m is None:
            continue
        items.append((m.group("label"), int(m.group("n")), path))
    if not items:
        raise FileNotFoundError(f"no <class>_<n>.npy clips in {root}")
    items.sort()
    clips = []
    for label, _, path in items:
        x = np.load(path).astype(np.float32)
        if x.ndim == 1:
            x = x[None]
        clips.append(Clip(name=path.stem, label=label, features=x))
    return clips


def _by_class(clips: SequenceABC[Clip]) -> dict[str, list[Clip]]:
    out: dict[str, list[Clip]] = defaultdict(list)
    for c in clips:
        out[c.label].append(c)
    return dict(sorted(out.items()))


def split_clips(clips: SequenceABC[Clip], rng: np.random.Generator) -> tuple[list[Clip], list[Clip]]:
    """Per class, shuffle and split clips in halves: ``(train, test)``, disjoint (odd extra goes to test)."""
    train: list[Clip] = []
    test: list[Clip] = []
    for _, items in _by_class(clips).items():
        order = rng.permutation(len(items))
        half = len(items) // 2
        train += [items[i] for i in order[:half]]
        test += [items[i] for i in order[half:]]
    return train, test


def split_classes(
    classes_with_counts: dict[str, int], n_target: int, rng: np.random.Generator, min_clips: int = 12
) -> tuple[list[str], list[str]]:
    """Draw ``n_target`` target classes among those with ``>= min_clips`` clips; the rest are "other".

    Returns ``(target, other)``, each sorted.
    """
    eligible = sorted(c for c, n in classes_with_counts.items() if n >= min_clips)
    if len(eligible) < n_target:
        raise ValueError(f"only {len(eligible)} classes have >= {min_clips} clips, need {n_target}")
    idx = rng.choice(len(eligible), size=n_target, replace=False)
    target = sorted(eligible[i] for i in idx)
    other = sorted(c for c in classes_with_counts if c not in target)
    return target, other


def build_sequence(
    name: str,
    actions: SequenceABC[Clip],
    background: SequenceABC[Clip],
    rng: np.random.Generator,
    max_background_run: int = 2,
    label_actions: bool = True,
) -> Sequence:
    """Concatenate ``actions`` (in the given order) with 1..``max_background_run`` clips drawn from
    ``background`` (with replacement) before each action and after the last one.

    Action clips become labelled ``Segment``s (when ``label_actions``) at ``SEQUENCE_FPS``;
    background clips stay unlabelled. Boundaries are exact row offsets.
    """
    parts: list[tuple[Clip, bool]] = []

    def add_background() -> None:
        if not background:
            return
        for _ in range(int(rng.integers(1, max_background_run + 1))):
            parts.append((background[int(rng.integers(len(background)))], False))

    for clip in actions:
        add_background()
        parts.append((clip, True))
    add_background()
    feats, segments, spans = [], [], []
    offset = 0
    for clip, is_action in parts:
        start, end = offset, offset + clip.length
        feats.append(clip.features)
        spans.append((clip.name, clip.label, start, end))
        if is_action and label_actions:
            segments.append(Segment(clip.label, start / SEQUENCE_FPS, end / SEQUENCE_FPS))
        offset = end
    return Sequence(name=name, features=np.concatenate(feats, axis=0), segments=segments, clips=spans)


def _chunks(items: list[_T], n: int) -> list[list[_T]]:
    n = max(1, min(n, len(items)))
    return [items[i::n] for i in range(n)]


def make_protocol(
    root_or_clips: str | Path | SequenceABC[Clip],
    shots: int,
    seed: int,
    n_target: int = 10,
    n_train_sequences: int = 4,
    n_test_sequences: int = 8,
    max_background_run: int = 2,
    min_clips: int = 12,
) -> FewShotProtocol:
    """Build the seeded few-shot localization episode described in the module docstring.

    ``root_or_clips`` is a folder of ``<class>_<n>.npy`` or clips from ``load_clips``. The class
    split and the clip split depend on ``seed`` only (not on ``shots``), so 1-shot and 5-shot of a
    seed share classes and test sequences.
    """
    clips = load_clips(root_or_clips) if isinstance(root_or_clips, (str, Path)) else list(root_or_clips)
    rng = np.random.default_rng(seed)
    counts = {c: len(v) for c, v in _by_class(clips).items()}
    target, other = split_classes(counts, n_target, rng, min_clips=min_clips)
    train_clips, test_clips = split_clips(clips, rng)
    test_rng = np.random.default_rng([seed, 1])
    tr, te = _by_class(train_clips), _by_class(test_clips)
    bg_train = [c for k in other for c in tr.get(k, [])]
    bg_test = [c for k in other for c in te.get(k, [])]

    # test sequences: every target test clip exactly once (independent of `shots`)
    test_actions = [c for k in target for c in te[k]]
    test_actions = [test_actions[i] for i in test_rng.permutation(len(test_actions))]
    test = [
        build_sequence(f"test_{i:02d}", chunk, bg_test, test_rng, max_background_run)
        for i, chunk in enumerate(_chunks(test_actions, n_test_sequences))
    ]

    # support: `shots` train clips per target class
    shot_rng = np.random.default_rng([seed, 2, shots])
    support: list[Clip] = []
    for k in target:
        if len(tr[k]) < shots:
            raise ValueError(f"class {k!r} has {len(tr[k])} train clips, fewer than {shots} shots")
        idx = shot_rng.choice(len(tr[k]), size=shots, replace=False)
        support += [tr[k][i] for i in sorted(idx)]
    support = [support[i] for i in shot_rng.permutation(len(support))]
    train = [
        build_sequence(f"train_{i:02d}", chunk, bg_train, shot_rng, max_background_run)
        for i, chunk in enumerate(_chunks(support, n_train_sequences))
    ]
    meta = {
        "n_clips": len(clips),
        "n_test_actions": len(test_actions),
        "train_frames": int(sum(s.n_frames for s in train)),
        "test_frames": int(sum(s.n_frames for s in test)),
        "fps": SEQUENCE_FPS,
    }
    return FewShotProtocol(seed, shots, target, other, train, test, meta)


def classification_episode(
    root_or_clips: str | Path | SequenceABC[Clip], shots: int, seed: int, min_query: int = 1
) -> ClassificationEpisode:
    """K-shot classification over all classes having ``>= shots + min_query`` clips: ``shots``
    support clips per class (seeded), every other clip of the class is a query."""
    clips = load_clips(root_or_clips) if isinstance(root_or_clips, (str, Path)) else list(root_or_clips)
    rng = np.random.default_rng([seed, 3, shots])
    support: list[Clip] = []
    query: list[Clip] = []
    classes = []
    for k, items in _by_class(clips).items():
        if len(items) < shots + min_query:
            continue
        classes.append(k)
        order = rng.permutation(len(items))
        support += [items[i] for i in order[:shots]]
        query += [items[i] for i in order[shots:]]
    return ClassificationEpisode(seed, shots, classes, support, query)
