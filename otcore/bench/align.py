"""``otstudio eval align``: frame alignment of every ordered pair of videos of an activity.

Score of a pair (X → Y): the fraction of frames of X whose aligned partner in Y has the same
ground-truth label. A frame VAOT sends to the dummy (background) counts as correct when its own
label is a background label (``SIL``/``background``), else as wrong. VAOT aligns every ``--stride``-th
frame (default 3: 5 fps on Breakfast's 15 fps) and maps the match back to full rate. Methods: ``vaot`` (fixed,
per-video standardised features), ``vaot-ssl`` (VAOT's self-supervised encoder trained on the
activity's videos, per seed), ``dtw`` (dynamic time warping on the cosine cost of the same
features) and ``linear`` (linear time stretch). Deterministic methods ignore ``--seeds``. The band
radius defaults to the rule of ``eval segment`` (:data:`otcore.methods.asot.RADIUS_RULE`), with the
activity's ASOT K as the expected segment count (coffee: 7 → r = 0.071); ``--radius`` fixes it.

Last line: ``align <method>: acc=.. (pairs=..)`` (mean ± std over seeds of the mean over pairs, percent).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from otcore.bench.data import load_segmentation_folder
from otcore.bench.seeds import parse_seeds
from otcore.methods.align import AlignSettings, align_videos, dtw_align, linear_align, train_alignment
from otcore.methods.asot import BREAKFAST_K, RADIUS_RULE

__all__ = ["main", "pair_accuracy", "METHODS", "BACKGROUND"]

METHODS = ("vaot", "vaot-ssl", "dtw", "linear")
BACKGROUND = ("SIL", "background", "bg")


def pair_accuracy(match: np.ndarray, gx: list[str], gy: list[str]) -> float:
    """Fraction of frames of X whose partner ``match[i]`` in Y has the same label (``-1`` = dummy)."""
    ok = 0
    for i, j in enumerate(match):
        if j < 0:
            ok += gx[i] in BACKGROUND
        else:
            ok += gx[i] == gy[int(j)]
    return ok / max(1, len(match))


def main(argv: list[str]) -> int:
    """Run the alignment evaluation; see the module docstring."""
    ap = argparse.ArgumentParser(prog="otstudio eval align", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--method", default="vaot", choices=METHODS)
    ap.add_argument("--activity", default=None)
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--eps", type=float, default=0.07)
    ap.add_argument("--alpha", type=float, default=0.3)
    ap.add_argument(
        "--radius",
        type=float,
        default=None,
        help="band radius (fraction of a video); default the rule r = 1/(2K) with the activity's "
        "ASOT K (0.04 = VAOT/ASOT code)",
    )
    ap.add_argument("--zeta", type=float, default=0.0)
    ap.add_argument("--rho", type=float, default=0.1)
    ap.add_argument("--epochs", type=int, default=30, help="vaot-ssl training epochs")
    ap.add_argument(
        "--stride",
        type=int,
        default=3,
        help="vaot: align every stride-th frame (frame i takes the partner of frame stride*(i//stride), "
        "mapped back to full rate); 1 = all frames",
    )
    args = ap.parse_args(argv)
    data = load_segmentation_folder(args.data, args.activity)
    seeds = parse_seeds(args.seeds) if args.method == "vaot-ssl" else [0]
    per_seed: list[float] = []
    n_pairs = 0
    for act, videos in data.items():
        names = [v.name.split("_")[0] for v in videos]
        n_seg = BREAKFAST_K.get(act, len({c for v in videos for c in v.labels}))
        settings = AlignSettings(
            eps=args.eps,
            alpha=args.alpha,
            radius=args.radius,
            zeta=args.zeta,
            rho=args.rho,
            n_segments=n_seg,
        )
        print(
            f"settings: eps={settings.eps} alpha={settings.alpha} rho={settings.rho} zeta={settings.zeta} "
            f"radius={settings.radius_for(n_seg):.4f} "
            + ("(given by --radius)" if args.radius is not None else f"(rule {RADIUS_RULE}, K={n_seg})")
            + "; eps/alpha/rho/zeta: VAOT's code defaults, not tuned here"
        )
        print(
            f"activity {act}: {len(videos)} videos, method {args.method}"
            + (f", settings {settings}" if args.method.startswith("vaot") else "")
        )
        for seed in seeds:
            t0 = time.perf_counter()
            enc = None
            if args.method == "vaot-ssl":
                enc = train_alignment(
                    [v.features for v in videos],
                    replace(settings, rho=settings.rho or 0.1),
                    epochs=args.epochs,
                    seed=seed,
                )
            acc = np.full((len(videos), len(videos)), np.nan)
            for i, vx in enumerate(videos):
                for j, vy in enumerate(videos):
                    if i == j:
                        continue
                    if args.method in ("vaot", "vaot-ssl"):
                        st = max(1, args.stride)
                        sub = align_videos(
                            vx.features[::st], vy.features[::st], settings, encoder=enc
                        ).match.numpy()
                        match = np.where(sub >= 0, np.minimum(sub * st, vy.n_frames - 1), -1)
                        match = np.repeat(match, st)[: vx.n_frames]
                    elif args.method == "dtw":
                        match = dtw_align(vx.features, vy.features).numpy()
                    else:
                        match = linear_align(vx.n_frames, vy.n_frames).numpy()
                    acc[i, j] = 100 * pair_accuracy(match, vx.labels, vy.labels)
            dt = time.perf_counter() - t0
            print(f"seed {seed}: accuracy (%) of X (row) aligned to Y (column), {dt:.1f} s")
            print(f"{'X / Y':>8} " + " ".join(f"{n:>7}" for n in names) + f" {'mean':>7}")
            for i, n in enumerate(names):
                print(
                    f"{n:>8} "
                    + " ".join("      -" if i == j else f"{acc[i, j]:7.1f}" for j in range(len(names)))
                    + f" {np.nanmean(acc[i]):7.1f}"
                )
            mean = float(np.nanmean(acc))
            n_pairs = int(np.isfinite(acc).sum())
            print(f"seed {seed}: mean over {n_pairs} ordered pairs {mean:.1f}")
            per_seed.append(mean)
    a = np.asarray(per_seed)
    print(f"align {args.method}: acc={a.mean():.1f}±{a.std():.1f} (pairs={n_pairs}, seeds={len(seeds)})")
    return 0
