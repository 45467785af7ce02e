"""``otstudio eval decode``: ASOT's OT decoder (no training) vs the per-frame argmax on real scores.

Reads every model folder of one granularity (default ``eval``) under ``<data>/predictions/<Dataset>/``
(``.mat`` files with per-frame class scores ``S`` and ground truth ``Y``, one file per split),
decodes each video with :func:`otcore.methods.asot.decode_scores` (``--method asot``) or the
per-frame argmax (``--method argmax``), and prints MoF, Edit, F1@{10,25,50} per model folder
(pooled over all videos) with the spread over the splits, then the mean over model folders.

``--tune`` grid-searches the decoder settings on Split 1 only (all model folders, objective
Edit + F1@{10,25,50} averaged), prints the grid's best, and evaluates with it; the held-out
splits 2..n are reported separately so the tuning cannot flatter the numbers. The defaults of
:class:`otcore.methods.asot.DecoderSettings` were chosen this way.

The last printed line is ``decode <method>: MoF=.. Edit=.. F1@10=.. F1@25=.. F1@50=..``
(MoF in percent, mean ± std over model folders).
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import replace

import numpy as np

from otcore.bench.data import ScoredVideo, find_score_folders, load_score_folder
from otcore.methods.asot import DecoderSettings, decode_scores
from otcore.metrics import edit_score, f1_at, mof

__all__ = ["main", "decode_videos", "score_videos", "TUNE_GRID"]

METRICS = ("MoF", "Edit", "F1@10", "F1@25", "F1@50")

#: Grid searched by ``--tune`` (on split 1).
TUNE_GRID: dict[str, list] = {
    "cost": ["neglog"],
    "alpha": [0.1, 0.3, 0.6],
    "radius": [0.005, 0.01, 0.02],
    "eps": [0.04],
    "tau_b": [0.05, None],
}


def decode_videos(videos: list[ScoredVideo], method: str, settings: DecoderSettings) -> list[np.ndarray]:
    """Per-frame labels of each video by ``method`` (``asot`` or ``argmax``)."""
    if method == "argmax":
        return [v.scores.argmax(1) for v in videos]
    if method == "asot":
        return [decode_scores(v.scores, settings).numpy() for v in videos]
    raise ValueError(f"unknown method {method!r}")


def score_videos(preds: list[np.ndarray], videos: list[ScoredVideo]) -> dict[str, float]:
    """MoF (percent), Edit, F1@{10,25,50} pooled over ``videos``."""
    gts = [v.gt for v in videos]
    return {
        "MoF": 100 * mof(preds, gts),
        "Edit": edit_score(preds, gts),
        "F1@10": f1_at(preds, gts, 0.10),
        "F1@25": f1_at(preds, gts, 0.25),
        "F1@50": f1_at(preds, gts, 0.50),
    }


def _objective(sc: dict[str, float]) -> float:
    return (sc["Edit"] + sc["F1@10"] + sc["F1@25"] + sc["F1@50"]) / 4


def tune(per_folder: dict[str, list[ScoredVideo]], split: int = 1) -> tuple[DecoderSettings, float]:
    """Best :class:`DecoderSettings` on ``split`` over :data:`TUNE_GRID` (mean objective over folders)."""
    best: tuple[float, DecoderSettings] | None = None
    keys = list(TUNE_GRID)
    for combo in itertools.product(*(TUNE_GRID[k] for k in keys)):
        st = replace(DecoderSettings(), **dict(zip(keys, combo)))
        objs = []
        for vids in per_folder.values():
            sub = [v for v in vids if v.split == split]
            objs.append(_objective(score_videos(decode_videos(sub, "asot", st), sub)))
        val = float(np.mean(objs))
        if best is None or val > best[0]:
            best = (val, st)
    assert best is not None
    return best[1], best[0]


def _pm(vals: list[float]) -> str:
    a = np.asarray(vals, dtype=float)
    return f"{a.mean():.1f}±{a.std():.1f}"


def main(argv: list[str]) -> int:
    """Run the decoding evaluation; see the module docstring."""
    ap = argparse.ArgumentParser(prog="otstudio eval decode", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", required=True, help="folder with predictions/<Dataset>/<granularity>/*/<split>.mat"
    )
    ap.add_argument("--method", default="asot", choices=("asot", "argmax"))
    ap.add_argument(
        "--granularity",
        default="eval",
        help="sub-folder of predictions/<Dataset> (e.g. eval, mid); 'all' for every folder",
    )
    ap.add_argument("--model", default=None, help="only model folders whose name contains this")
    ap.add_argument(
        "--tune", action="store_true", help="grid-search the decoder on split 1 first (asot only)"
    )
    for f in ("alpha", "radius", "eps", "tau_b"):
        ap.add_argument(f"--{f.replace('_', '-')}", type=float, default=None)
    ap.add_argument("--cost", default=None, choices=("neglog", "one_minus"))
    args = ap.parse_args(argv)

    folders = find_score_folders(args.data)
    if args.granularity != "all":
        folders = [f for f in folders if f.parent.name == args.granularity]
    if args.model:
        folders = [f for f in folders if args.model in f.name]
    if not folders:
        print(f"no score folders found under {args.data} for granularity {args.granularity!r}")
        return 2
    per_folder = {f"{f.parent.name}/{f.name}": load_score_folder(f) for f in folders}
    settings = DecoderSettings()
    for f in ("alpha", "radius", "eps", "tau_b", "cost"):
        if getattr(args, f) is not None:
            settings = replace(settings, **{f: getattr(args, f)})
    if args.tune and args.method == "asot":
        settings, obj = tune(per_folder)
        print(
            f"tuned on split 1 ({len(list(itertools.product(*TUNE_GRID.values())))} settings): {settings} objective {obj:.2f}"
        )
    if args.method == "asot":
        print(f"decoder settings: {settings}")
    print(
        f"{'model':<36} {'videos':>6} " + " ".join(f"{m:>11}" for m in METRICS) + "   (± = std over splits)"
    )
    summary: dict[str, list[float]] = {m: [] for m in METRICS}
    held: dict[str, list[float]] = {m: [] for m in METRICS}
    for name, vids in per_folder.items():
        preds = decode_videos(vids, args.method, settings)
        sc = score_videos(preds, vids)
        splits = sorted({v.split for v in vids})
        per_split = {m: [] for m in METRICS}
        for s in splits:
            idx = [i for i, v in enumerate(vids) if v.split == s]
            ss = score_videos([preds[i] for i in idx], [vids[i] for i in idx])
            for m in METRICS:
                per_split[m].append(ss[m])
        idx_h = [i for i, v in enumerate(vids) if v.split != 1]
        if idx_h:
            sh = score_videos([preds[i] for i in idx_h], [vids[i] for i in idx_h])
            for m in METRICS:
                held[m].append(sh[m])
        for m in METRICS:
            summary[m].append(sc[m])
        cells = " ".join(f"{sc[m]:5.1f}±{np.std(per_split[m]):4.1f}" for m in METRICS)
        print(f"{name:<36} {len(vids):>6} {cells}")
    if any(held.values()):
        print(
            f"{'mean over models, splits≠1 (held out)':<43} "
            + " ".join(f"{np.mean(held[m]):11.1f}" for m in METRICS)
        )
    print(
        f"{'mean over models, all splits':<43} " + " ".join(f"{np.mean(summary[m]):11.1f}" for m in METRICS)
    )
    print(f"decode {args.method}: " + " ".join(f"{m}={_pm(summary[m])}" for m in METRICS))
    return 0


if __name__ == "__main__":  # pragma: no cover
    import sys

    raise SystemExit(main(sys.argv[1:]))
