"""``otstudio eval segment``: unsupervised action segmentation on Breakfast-like folders.

For each activity, the method is fit on all of that activity's videos (the transductive
protocol of unsupervised segmentation) and its per-frame cluster ids are scored against the
ground truth after Hungarian matching, both at activity level (one matching over all videos) and
at video level (one matching per video): MoF, F1@{10,25,50}, mIoU. Methods: ``asot``, ``clot``,
``kmeans`` (k-means on the per-video standardised frames, pooled over the activity) and ``equal``
(each video cut into K equal-length segments in order). K defaults to ASOT's per-activity
Breakfast value when the activity is known (coffee: 7), else the number of ground-truth classes
present; ``--k gt`` forces the latter.

The last printed line is ``segment <method>: MoF=.. F1@50=.. mIoU=..`` (activity level, mean ±
std over seeds, MoF and mIoU in percent).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from typing import TypedDict

import numpy as np
import torch

from otcore.bench.data import SegVideo, load_segmentation_folder
from otcore.bench.seeds import parse_overrides, parse_seeds
from otcore.metrics import f1_at, hungarian_match, miou, mof

__all__ = ["main", "run_method", "score_activity", "METHODS"]

METHODS = ("asot", "clot", "kmeans", "equal", "vasot")


def _remap(pred: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    out = np.full(pred.shape, -1, dtype=np.int64)
    for k, c in mapping.items():
        out[pred == k] = c
    return out


class _OTOverrides(TypedDict, total=False):
    """The ``--set`` values that go to the OT settings of the Breakfast configs, not to a field."""

    radius: float | None
    eval_tau_b: float | None


def _number_or_none(key: str, value: object) -> float | None:
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    raise ValueError(f"{key} must be a number or null, got {value!r}")


def _ot_overrides(extra: dict[str, object]) -> _OTOverrides:
    """Take ``radius`` and ``eval_tau_b`` out of ``extra`` (checked to be numbers or ``None``)."""
    out: _OTOverrides = {}
    if "radius" in extra:
        out["radius"] = _number_or_none("radius", extra.pop("radius"))
    if "eval_tau_b" in extra:
        out["eval_tau_b"] = _number_or_none("eval_tau_b", extra.pop("eval_tau_b"))
    return out


def run_method(
    method: str,
    videos: list[SegVideo],
    k: int,
    seed: int,
    epochs: int | None = None,
    extra: dict[str, object] | None = None,
) -> list[np.ndarray]:
    """Per-frame cluster ids of ``method`` on the videos of one activity."""
    torch.manual_seed(seed)
    feats = [torch.as_tensor(v.features, dtype=torch.float32) for v in videos]
    extra = dict(extra or {})
    if method == "equal":
        return [np.minimum((np.arange(v.n_frames) * k) // v.n_frames, k - 1) for v in videos]
    if method == "kmeans":
        from otcore.methods._unsup import kmeans, standardise

        x = torch.cat([standardise(f) for f in feats])
        _, lab = kmeans(x, k, generator=torch.Generator().manual_seed(seed))
        out, s = [], 0
        for v in videos:
            out.append(lab[s : s + v.n_frames].numpy())
            s += v.n_frames
        return out
    if method == "vasot":
        from otcore.bench.vasot import run_vasot

        return run_vasot(videos, k, seed, epochs, extra)
    if method in ("asot", "clot"):
        from otcore.methods.asot import ASOT, breakfast_config
        from otcore.methods.clot import CLOT, clot_breakfast_config

        ot = _ot_overrides(extra)
        model: ASOT
        if method == "asot":
            cfg = breakfast_config(k, seed=seed, **ot, **extra)
            model = ASOT(feats[0].shape[1], cfg if epochs is None else replace(cfg, epochs=epochs))
        else:
            ccfg = clot_breakfast_config(k, seed=seed, **ot, **extra)
            model = CLOT(feats[0].shape[1], ccfg if epochs is None else replace(ccfg, epochs=epochs))
        model.fit(feats)
        out = []
        for f in feats:
            clusters = model.predict(f).clusters
            assert clusters is not None  # ASOT and CLOT predictions always carry their cluster ids
            out.append(clusters.numpy())
        return out
    raise ValueError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")


def score_activity(preds: list[np.ndarray], gts: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """MoF, F1@{10,25,50}, mIoU (all in percent) at activity and video level of Hungarian matching."""
    out: dict[str, dict[str, float]] = {}
    act_map = hungarian_match(preds, gts)
    mapped = {
        "activity": [_remap(p, act_map) for p in preds],
        "video": [_remap(p, hungarian_match(p, g)) for p, g in zip(preds, gts)],
    }
    for level, mp in mapped.items():
        out[level] = {
            "MoF": 100 * mof(mp, gts),
            "F1@10": f1_at(mp, gts, 0.10),
            "F1@25": f1_at(mp, gts, 0.25),
            "F1@50": f1_at(mp, gts, 0.50),
            "mIoU": 100 * miou(mp, gts),
        }
    return out


def _print_settings(method: str, k: int, extra: dict[str, object]) -> None:
    """Print the OT settings in force and where each comes from."""
    if method == "vasot":
        from otcore.methods.vasot import vasot_breakfast_config

        vcfg = vasot_breakfast_config(k)
        al = vcfg.align_ot
        for name, ot in (("train", vcfg.train_ot), ("eval", vcfg.eval_ot)):
            print(
                f"settings {name}: eps={ot.eps} alpha={ot.alpha} rho={ot.rho} lambda={ot.tau_b} "
                f"radius={ot.radius_for(k):.4f}"
            )
        print(
            f"settings align: eps={al.eps} alpha={al.alpha} rho={al.rho} radius={al.radius_for(al.n_segments):.4f}"
            f" w_seg={vcfg.w_seg} w_align={vcfg.w_align}"
        )
        print(
            "  chosen on: ASOT's Breakfast settings and radius rule, VAOT's alignment settings, the paper's "
            "loss weights; nothing tuned on these videos"
            + (f"; overridden: {', '.join(sorted(extra))}" if extra else "")
        )
        return
    if method not in ("asot", "clot"):
        print(
            "settings: none (deterministic baseline)"
            if method == "equal"
            else "settings: k-means, 10 restarts"
        )
        return
    from otcore.methods.asot import RADIUS_RULE, breakfast_config

    cfg = breakfast_config(k, **_ot_overrides(dict(extra)))
    for name, ot in (("train", cfg.train_ot), ("eval", cfg.eval_ot)):
        print(
            f"settings {name}: eps={ot.eps} alpha={ot.alpha} rho={ot.rho} lambda={ot.tau_b} "
            f"radius={ot.radius_for(k):.4f}"
        )
    given = "radius" in extra and extra["radius"] is not None
    print(
        "  chosen on: ASOT's Breakfast script (eps, alpha, rho, training lambda), ASOT's code (eval lambda "
        f"0.01); radius {'given by --set' if given else 'by the rule ' + RADIUS_RULE}; nothing tuned on these videos"
        + (f"; overridden: {', '.join(sorted(extra))}" if extra else "")
    )


def _fmt(vals: list[float]) -> str:
    a = np.asarray(vals, dtype=float)
    return f"{a.mean():5.1f} ± {a.std():4.1f}"


def main(argv: list[str]) -> int:
    """Run the segmentation evaluation; see the module docstring."""
    ap = argparse.ArgumentParser(prog="otstudio eval segment", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="Breakfast-like folder (root or a parent of it)")
    ap.add_argument("--method", default="asot", choices=METHODS)
    ap.add_argument("--seeds", default="0-4", help="e.g. 0-4 or 0,2")
    ap.add_argument("--activity", default=None, help="only this activity (default: all)")
    ap.add_argument(
        "--k",
        default="auto",
        help="clusters: an integer, 'auto' (Breakfast K per activity, else #GT classes) or 'gt'",
    )
    ap.add_argument("--epochs", type=int, default=None, help="override training epochs (asot/clot)")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field of the method (e.g. lr=1e-3); repeatable",
    )
    ap.add_argument("--json", default=None, help="also write all numbers to this JSON file")
    args = ap.parse_args(argv)

    from otcore.methods.asot import BREAKFAST_K

    data = load_segmentation_folder(args.data, args.activity)
    seeds = parse_seeds(args.seeds)
    try:
        extra = parse_overrides(args.set)
        _ot_overrides(dict(extra))
    except ValueError as exc:
        print(f"eval segment: {exc}")
        return 2
    metrics = ["MoF", "F1@10", "F1@25", "F1@50", "mIoU"]
    results: dict[str, dict[str, dict[str, list[float]]]] = {}
    for act, videos in data.items():
        classes = sorted({c for v in videos for c in v.labels})
        n_gt = len(classes)
        if args.k == "auto":
            k = BREAKFAST_K.get(act, n_gt)
        elif args.k == "gt":
            k = n_gt
        else:
            k = int(args.k)
        cid = {c: i for i, c in enumerate(classes)}
        gts = [np.asarray([cid[c] for c in v.labels], dtype=np.int64) for v in videos]
        print(
            f"activity {act}: {len(videos)} videos, {sum(v.n_frames for v in videos)} frames, "
            f"{n_gt} ground-truth classes, K = {k}, method {args.method}, seeds {seeds}"
        )
        header = f"{'seed':>6} {'level':>9} " + " ".join(f"{m:>7}" for m in metrics) + f" {'time s':>7}"
        _print_settings(args.method, k, extra)
        print(header)
        per: dict[str, dict[str, list[float]]] = {
            lvl: {m: [] for m in metrics} for lvl in ("activity", "video")
        }
        for seed in seeds:
            t0 = time.perf_counter()
            preds = run_method(args.method, videos, k, seed, args.epochs, extra)
            dt = time.perf_counter() - t0
            sc = score_activity(preds, gts)
            for lvl in ("activity", "video"):
                for m in metrics:
                    per[lvl][m].append(sc[lvl][m])
                print(
                    f"{seed:>6} {lvl:>9} " + " ".join(f"{sc[lvl][m]:7.1f}" for m in metrics) + f" {dt:7.1f}"
                )
        results[act] = per
        print(f"{'mean±std':>16}")
        for lvl in ("activity", "video"):
            print(f"{lvl:>16} " + "  ".join(f"{m}={_fmt(per[lvl][m])}" for m in metrics))
    # pooled over activities (one activity here → its numbers)
    allv = {
        m: [float(np.mean([results[a]["activity"][m][i] for a in results])) for i in range(len(seeds))]
        for m in metrics
    }
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"method": args.method, "seeds": seeds, "results": results}, fh, indent=1)
    print(
        f"segment {args.method}: MoF={_fmt(allv['MoF']).replace(' ', '')} F1@50={_fmt(allv['F1@50']).replace(' ', '')} "
        f"mIoU={_fmt(allv['mIoU']).replace(' ', '')}"
    )
    return 0
