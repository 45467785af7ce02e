"""Loaders for the real-data layouts the evaluations read.

Two layouts:

* **Breakfast-like segmentation folders** (``features/<activity>/<video>.txt`` with one row of
  features per frame, ``groundTruth/<video>`` with one label name per line and
  ``mapping/mapping.txt`` with ``<index> <name>`` lines). The folder given may be the root or any
  parent holding exactly one such root (e.g. ``breakfast_cte`` whose data is in ``dummy_data/``).
* **Per-frame score folders** as written by temporal-model benchmarks:
  ``predictions/<Dataset>/<granularity>/<granularity>_video_<model>/<split>.mat`` (MATLAB files
  with cell arrays ``S`` (T×C scores) and ``Y`` (T labels), one cell per test video of the split),
  with the video order of each split in ``splits/<Dataset>/Split_<k>/test.txt``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "SegVideo",
    "ScoredVideo",
    "find_segmentation_root",
    "load_mapping",
    "load_segmentation_folder",
    "find_score_folders",
    "score_folder_granularity",
    "load_score_folder",
    "labels_to_runs",
]


@dataclass(frozen=True)
class SegVideo:
    """One video of a segmentation folder: features ``[T, D]`` and per-frame ground-truth names."""

    name: str
    activity: str
    features: np.ndarray
    labels: list[str]

    @property
    def n_frames(self) -> int:
        """Number of frames (rows)."""
        return int(self.features.shape[0])


@dataclass(frozen=True)
class ScoredVideo:
    """One video of a score folder: per-frame scores ``[T, C]`` and integer ground truth ``[T]``."""

    name: str
    split: int
    scores: np.ndarray
    gt: np.ndarray


def find_segmentation_root(path: str | Path) -> Path:
    """The folder holding ``features/`` and ``groundTruth/`` at or below ``path`` (depth ≤ 3)."""
    path = Path(path)
    candidates = (
        [path]
        + sorted(p for p in path.glob("*") if p.is_dir())
        + sorted(p for p in path.glob("*/*") if p.is_dir())
        + sorted(p for p in path.glob("*/*/*") if p.is_dir())
    )
    for cand in candidates:
        if (cand / "features").is_dir() and (cand / "groundTruth").is_dir():
            return cand
    raise FileNotFoundError(f"no features/ + groundTruth/ folder found at or below {path}")


def load_mapping(root: str | Path) -> list[str]:
    """Class names in index order from ``mapping/mapping.txt`` (empty list if absent)."""
    fp = Path(root) / "mapping" / "mapping.txt"
    if not fp.is_file():
        return []
    names: dict[int, str] = {}
    for line in fp.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2:
            names[int(parts[0])] = parts[1]
    return [names[i] for i in sorted(names)]


def load_segmentation_folder(path: str | Path, activity: str | None = None) -> dict[str, list[SegVideo]]:
    """All videos per activity, sorted by name; ``activity`` restricts to one activity.

    Feature and label files of unequal length are cut to the shorter one (a known off-by-one of
    some releases); a video without ground truth is skipped.
    """
    root = find_segmentation_root(path)
    out: dict[str, list[SegVideo]] = {}
    acts = sorted(p for p in (root / "features").iterdir() if p.is_dir())
    for act_dir in acts:
        if activity is not None and act_dir.name != activity:
            continue
        videos: list[SegVideo] = []
        for fp in sorted(act_dir.glob("*.txt")):
            gt_fp = root / "groundTruth" / fp.stem
            if not gt_fp.is_file():
                gt_fp = root / "groundTruth" / fp.name
            if not gt_fp.is_file():
                continue
            feats = np.loadtxt(fp, dtype=np.float32, ndmin=2)
            labels = [ln.strip() for ln in gt_fp.read_text().splitlines() if ln.strip()]
            n = min(len(labels), feats.shape[0])
            videos.append(SegVideo(fp.stem, act_dir.name, feats[:n], labels[:n]))
        if videos:
            out[act_dir.name] = videos
    if not out:
        raise FileNotFoundError(
            f"no videos found under {root / 'features'}" + (f" for {activity!r}" if activity else "")
        )
    return out


def find_score_folders(path: str | Path) -> list[Path]:
    """Every folder of ``*.mat`` score files under ``path/predictions`` (or ``path``), sorted."""
    path = Path(path)
    base = path / "predictions" if (path / "predictions").is_dir() else path
    return sorted({fp.parent for fp in base.rglob("*.mat")})


def score_folder_granularity(folder: str | Path, root: str | Path) -> str | None:
    """The granularity of a score folder: ``<g>`` in ``predictions/<Dataset>/<g>/<model>``, ``None``
    in the layout without one, ``predictions/<Dataset>/<model>`` (e.g. GTEA)."""
    root = Path(root)
    base = root / "predictions" if (root / "predictions").is_dir() else root
    try:
        rel = Path(folder).relative_to(base).parts
    except ValueError:
        return None
    return rel[1] if len(rel) >= 3 else None


def _split_lists(root: Path, dataset: str) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    sdir = root / "splits" / dataset
    if not sdir.is_dir():
        return out
    for d in sdir.iterdir():
        if d.is_dir() and d.name.startswith("Split_") and (d / "test.txt").is_file():
            names = [ln.strip() for ln in (d / "test.txt").read_text().splitlines() if ln.strip()]
            out[int(d.name.split("_")[1])] = [Path(n).stem for n in names]
    return out


def load_score_folder(folder: str | Path) -> list[ScoredVideo]:
    """All videos of one model folder (``<split>.mat`` files with cell arrays ``S`` and ``Y``).

    Names come from ``splits/<Dataset>/Split_<k>/test.txt`` when the folder sits in the standard
    layout, else ``"<split>:<index>"``.
    """
    from scipy.io import loadmat

    folder = Path(folder)
    parts = folder.resolve().parts
    names_by_split: dict[int, list[str]] = {}
    if "predictions" in parts:
        i = parts.index("predictions")
        root = Path(*parts[:i])
        if len(parts) > i + 1:
            names_by_split = _split_lists(root, parts[i + 1])
    out: list[ScoredVideo] = []
    for fp in sorted(folder.glob("*.mat"), key=lambda p: (len(p.stem), p.stem)):
        split = int(fp.stem) if fp.stem.isdigit() else 0
        mat = loadmat(fp)
        s_cells = np.asarray(mat["S"]).reshape(-1)
        y_cells = np.asarray(mat["Y"]).reshape(-1)
        names = names_by_split.get(split, [])
        for j, (s, y) in enumerate(zip(s_cells, y_cells)):
            s = np.asarray(s, dtype=np.float64)
            y = np.asarray(y).reshape(-1).astype(np.int64)
            n = min(s.shape[0], y.shape[0])
            name = names[j] if j < len(names) else f"{split}:{j}"
            out.append(ScoredVideo(name, split, s[:n], y[:n]))
    return out


def labels_to_runs(labels: Sequence[object] | np.ndarray) -> list[tuple[object, int, int]]:
    """Maximal runs of equal labels as ``(label, start, end)`` with ``end`` exclusive."""
    runs: list[tuple[object, int, int]] = []
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            runs.append((labels[start], start, i))
            start = i
    return runs
