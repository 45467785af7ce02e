"""``otstudio eval fewshot``: few-shot action localization (and clip classification) on real features.

Two kinds of ``--data`` folder:

- per-clip features ``<class>_<n>.npy`` (e.g. ``gym_i3d``): the seeded protocol of
  ``otcore.bench.gym.make_protocol`` (target classes vs "other" classes as background, K marked
  segments per target class in training sequences, disjoint test clips; 1 row = 1 s). For each shot
  count and seed every method is trained and evaluated (ActivityNet-style mAP at tIoU 0.3:0.1:0.7,
  ``otcore.metrics.detection_map``); the table gives mean ± std over seeds. Then K-shot classification of
  the trimmed clips over all classes: SOT-GLP global-only (``mix = 0``) vs local-global.
- untrimmed clips with ``gt.json`` (ActivityNet-style ``{"GT": {name: {duration, annotations}}}``) and
  ``<name>.npy`` features (e.g. ``clips_labeled``): a smoke check. The row rate is ``T / duration``; the
  support is the first segment of every class, the test set is every video (the support segments lie
  inside the test videos, so this only checks the pipeline end to end, it is not a benchmark).

The last line is ``avg_mAP plot-tal=X coop=Y ...`` (percent, mean over seeds, at the largest shot count).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from otcore.bench.gym import classification_episode, load_clips, make_protocol
from otcore.bench.seeds import parse_overrides, parse_seeds
from otcore.methods.plot_tal import PlotTALConfig, TrainVideo, fit, predict, with_method
from otcore.methods.prompts import load_text_tower
from otcore.metrics import detection_map
from otcore.types import Segment

__all__ = ["main", "evaluate_protocol", "classification_accuracy", "settings_line", "ALL_METHODS"]

ALL_METHODS = ("plot-tal", "coop", "prototype", "sot-glp")
TIOUS = (0.3, 0.4, 0.5, 0.6, 0.7)


def _to_eval(segments: list[Segment]) -> list[dict[str, Any]]:
    return [
        {"label": s.label, "segment": [s.start, s.end], "score": 1.0 if s.score is None else s.score}
        for s in segments
    ]


def evaluate_protocol(
    train: list[TrainVideo],
    test: list[tuple[str, torch.Tensor, float, list[Segment]]],
    classes: list[str],
    method: str,
    config: PlotTALConfig,
    tower: Any = None,
) -> dict[str, Any]:
    """Train ``method`` on ``train``, predict every test video, return detection mAP (+ timing)."""
    cfg = with_method(config, method)
    t0 = time.perf_counter()
    model = fit(train, classes, cfg, tower=tower)
    t_train = time.perf_counter() - t0
    preds, gt = {}, {}
    for name, feats, fps, segs in test:
        preds[name] = _to_eval(predict(model, feats, fps, with_plans=False).segments)
        gt[name] = [{"label": s.label, "segment": [s.start, s.end]} for s in segs]
    res = detection_map(preds, gt, tious=TIOUS)
    res["train_seconds"] = t_train
    res["total_seconds"] = time.perf_counter() - t0
    return res


def classification_accuracy(root: Path, shots: int, seed: int, tower: Any, epochs: int) -> dict[str, float]:
    """K-shot clip classification over all classes: SOT-GLP global-only vs local-global accuracy."""
    from otcore.methods.sot_glp import SotGlpConfig, fit_clips, pad_clips

    ep = classification_episode(root, shots, seed)
    index = {c: i for i, c in enumerate(ep.classes)}
    xs = [torch.from_numpy(c.features) for c in ep.support]
    ys = [index[c.label] for c in ep.support]
    qx, qm = pad_clips([torch.from_numpy(c.features) for c in ep.query])
    qy = torch.tensor([index[c.label] for c in ep.query])
    out = {}
    for name, mix in (("global", 0.0), ("sot-glp", 0.5)):
        model = fit_clips(xs, ys, ep.classes, SotGlpConfig(mix=mix, seed=seed, epochs=epochs), tower=tower)
        with torch.no_grad():
            pred = model(qx, qm).argmax(-1)
        out[name] = float((pred == qy).float().mean())
    return out


def _fmt(vals: list[float]) -> str:
    a = np.asarray(vals) * 100
    return f"{a.mean():5.1f} ± {a.std():4.1f}"


def settings_line(config: PlotTALConfig) -> str:
    """What the run's settings are and what they were chosen on: the fields that differ from
    :class:`PlotTALConfig`'s defaults (given on this command line), else the defaults themselves
    (the paper's / reference code's values, kept because they were ahead of CoOp and prototype on
    gym_i3d seeds 0-9 at 5 shots; no setting was chosen on other seeds)."""
    default = PlotTALConfig()
    changed = {k: v for k, v in asdict(config).items() if getattr(default, k) != v and k != "seed"}
    if not changed:
        return (
            "settings: PlotTALConfig defaults (paper / reference code values), kept on gym_i3d "
            "seeds 0-9 at 5 shots; nothing chosen on other seeds"
        )
    given = " ".join(f"{k}={v}" for k, v in sorted(changed.items()))
    return f"settings: {given} given on the command line (not chosen by this run), the rest PlotTALConfig defaults"


def _gym(args: argparse.Namespace, config: PlotTALConfig, tower: Any) -> int:
    root = Path(args.data)
    clips = load_clips(root)
    shots_list = [int(s) for s in args.shots.split(",")]
    seeds = parse_seeds(args.seeds)
    methods = [m.strip() for m in args.method.split(",") if m.strip()]
    results: dict[int, dict[str, list[dict[str, Any]]]] = {}
    first = make_protocol(clips, shots_list[0], seeds[0], n_target=args.n_target)
    print(
        f"few-shot localization on {root.name}: {len(clips)} clips, "
        f"{len(first.target_classes)} target classes, "
        f"{len(first.other_classes)} other classes as background; seeds {seeds}; 1 feature row = 1 s"
    )
    print(
        f"text tower: {tower.model_id} ("
        + (
            "pretrained"
            if tower.pretrained
            else "random frozen weights: no class-name semantics, prompts learn from the shots only"
        )
        + ")"
    )
    print(
        f"config: epochs={config.epochs} eps={config.eps} n_prompts={config.n_prompts} "
        f"levels={config.levels} "
        f"ot_weight={config.ot_weight} lr={config.lr} dropout={config.dropout} ctx_init={config.ctx_init!r}"
    )
    print(settings_line(config))
    for shots in shots_list:
        results[shots] = {m: [] for m in methods}
        for seed in seeds:
            p = make_protocol(clips, shots, seed, n_target=args.n_target)
            train = [TrainVideo(torch.from_numpy(s.features), s.fps, s.segments, s.name) for s in p.train]
            test = [(s.name, torch.from_numpy(s.features), s.fps, s.segments) for s in p.test]
            for m in methods:
                cfg = PlotTALConfig(**{**config.__dict__, "seed": seed})
                r = evaluate_protocol(train, test, p.target_classes, m, cfg, tower=tower)
                results[shots][m].append(r)
                if args.verbose:
                    print(
                        f"  shots={shots} seed={seed} {m:<9} avg mAP {100 * r['average']:.1f} "
                        f"(train {r['train_seconds']:.1f}s)",
                        flush=True,
                    )
        print(f"\n{shots}-shot ({len(seeds)} seeds, mAP % mean ± std)")
        print(
            f"{'method':<10}"
            + "".join(f"{'mAP@' + str(t):>15}" for t in TIOUS)
            + f"{'avg':>15}{'train s':>9}"
        )
        for m in methods:
            rs = results[shots][m]
            row = "".join(f"{_fmt([r[f'mAP@{t}'] for r in rs]):>15}" for t in TIOUS)
            tt = np.mean([r["train_seconds"] for r in rs])
            print(f"{m:<10}{row}{_fmt([r['average'] for r in rs]):>15}{tt:9.1f}", flush=True)
    if args.classification_shots > 0:
        accs: dict[str, list[float]] = {"global": [], "sot-glp": []}
        for seed in seeds:
            a = classification_accuracy(root, args.classification_shots, seed, tower, args.glp_epochs)
            for k in accs:
                accs[k].append(a[k])
        ep = classification_episode(root, args.classification_shots, seeds[0])
        print(
            f"\nclassification ({args.classification_shots}-shot, {len(ep.classes)} classes, "
            f"{len(ep.query)} queries, "
            f"{len(seeds)} seeds, accuracy %): global-only {_fmt(accs['global'])}   "
            f"SOT-GLP local-global {_fmt(accs['sot-glp'])}"
        )
    if args.json:
        blob = {
            str(k): {
                m: [{kk: vv for kk, vv in r.items() if kk != "per_class"} for r in rs] for m, rs in v.items()
            }
            for k, v in results.items()
        }
        Path(args.json).write_text(json.dumps(blob, indent=1))
    top = max(shots_list)
    for shots in shots_list[:-1]:
        print(
            f"avg_mAP[{shots}-shot] "
            + " ".join(f"{m}={100 * np.mean([r['average'] for r in results[shots][m]]):.1f}" for m in methods)
        )
    print(
        "avg_mAP "
        + " ".join(f"{m}={100 * np.mean([r['average'] for r in results[top][m]]):.1f}" for m in methods)
    )
    return 0


def _untrimmed(args: argparse.Namespace, config: PlotTALConfig, tower: Any) -> int:
    root = Path(args.data)
    gt_all = json.loads((root / "gt.json").read_text())
    gt_all = gt_all.get("GT", gt_all.get("database", gt_all))
    videos = []
    for name, item in sorted(gt_all.items()):
        path = root / name if name.endswith(".npy") else root / f"{name}.npy"
        if not path.exists():
            print(f"skip {name}: no features file")
            continue
        feats = torch.from_numpy(np.load(path).astype(np.float32))
        fps = feats.shape[0] / float(item["duration"])
        segs = [
            Segment(a["label"], float(a["segment"][0]), float(a["segment"][1])) for a in item["annotations"]
        ]
        videos.append((path.stem, feats, fps, segs))
    classes = sorted({s.label for *_, segs in videos for s in segs})
    first: dict[str, Segment] = {}
    for _, _, _, segs in videos:
        for s in sorted(segs, key=lambda s: s.start):
            first.setdefault(s.label, s)
    train = [
        TrainVideo(f, fps, [s for s in segs if first.get(s.label) is s], n) for n, f, fps, segs in videos
    ]
    train = [v for v in train if v.segments]
    print(
        f"smoke check on {root.name}: {len(videos)} videos, classes {classes}; "
        "support = first segment per class; "
        f"test = all videos (support inside them: pipeline check, not a benchmark)"
    )
    methods = [m.strip() for m in args.method.split(",") if m.strip()]
    res = {}
    for m in methods:
        r = evaluate_protocol(train, videos, classes, m, config, tower=tower)
        res[m] = r
        print(
            f"{m:<10}"
            + " ".join(f"mAP@{t}={100 * r[f'mAP@{t}']:.1f}" for t in TIOUS)
            + f" avg={100 * r['average']:.1f} train={r['train_seconds']:.1f}s"
        )
    print("avg_mAP " + " ".join(f"{m}={100 * res[m]['average']:.1f}" for m in methods))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``otstudio eval fewshot`` (see the module docstring)."""
    ap = argparse.ArgumentParser(prog="otstudio eval fewshot", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--data", required=True, help="folder of <class>_<n>.npy clips, or of <name>.npy + gt.json"
    )
    ap.add_argument("--shots", default="1,5")
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--method", default=",".join(ALL_METHODS))
    ap.add_argument("--n-target", type=int, default=10, help="number of target classes (rest = background)")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--eps", type=float, default=None)
    ap.add_argument("--n-prompts", type=int, default=None)
    ap.add_argument("--levels", type=int, default=None)
    ap.add_argument("--ot-weight", type=float, default=None)
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any PlotTALConfig field for every method of the run (e.g. lr=3e-3, dropout=0.1)",
    )
    ap.add_argument("--classification-shots", type=int, default=5, help="0 to skip clip classification")
    ap.add_argument("--glp-epochs", type=int, default=60)
    ap.add_argument("--json", default=None, help="write per-seed results here")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (1 is fastest for these small tensors on a shared CPU)",
    )
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    over = {
        k: v
        for k, v in {
            "epochs": args.epochs,
            "eps": args.eps,
            "n_prompts": args.n_prompts,
            "levels": args.levels,
            "ot_weight": args.ot_weight,
        }.items()
        if v is not None
    }
    try:
        extra = parse_overrides(args.set)
        config = PlotTALConfig(**{**over, **extra})
    except (TypeError, ValueError) as exc:
        ap.error(f"bad --set: {exc}")
    bad = [m for m in args.method.split(",") if m.strip() and m.strip() not in ALL_METHODS]
    if bad:
        ap.error(f"unknown method(s) {bad}; choose from {ALL_METHODS}")
    tower = load_text_tower(config.text_model, config.text_pretrained, config.text_weights_file, seed=0)
    root = Path(args.data)
    if not root.is_dir():
        ap.error(f"no such folder: {root}")
    if (root / "gt.json").exists():
        return _untrimmed(args, config, tower)
    return _gym(args, config, tower)
