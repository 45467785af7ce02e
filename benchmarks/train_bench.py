"""Training time of the few-shot detector at the product's target size.

Setting (the speed requirement): 5 marked shots × 20 classes in 10 minutes of video at 2 fps (1,200 frames,
split into 4 videos of 150 s), CLIP-sized frame features (D = 512). Each method trains with its default
epochs; the text tower is the real ViT-B-32 architecture (12 layers, width 512; random frozen weights
offline, which costs the same as pretrained ones) and, for comparison, the tiny test tower. Segments
last 2-8 s. Prints one line per (method, tower) with the wall time, and the ratio to the 120 s budget.

    .venv/bin/python benchmarks/train_bench.py [--threads 1] [--epochs N] [--methods plot-tal,coop,prototype]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from otcore.methods.plot_tal import PlotTALConfig, TrainVideo, fit, predict, with_method
from otcore.methods.prompts import load_text_tower
from otcore.types import Segment

BUDGET_S = 120.0


def make_videos(
    n_classes: int = 20,
    shots: int = 5,
    n_videos: int = 4,
    seconds: float = 150.0,
    fps: float = 2.0,
    dim: int = 512,
    seed: int = 0,
) -> list[TrainVideo]:
    """Synthetic CLIP-sized features with ``shots`` marked segments per class spread over the videos."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim)).astype(np.float32)
    T = int(seconds * fps)
    marks = [(c, k) for c in range(n_classes) for k in range(shots)]
    rng.shuffle(marks)
    per_video = [marks[i::n_videos] for i in range(n_videos)]
    videos = []
    for v, items in enumerate(per_video):
        x = rng.normal(size=(T, dim)).astype(np.float32)
        slot = T // max(1, len(items))
        segs = []
        for j, (c, _) in enumerate(items):
            length = int(rng.integers(4, 17))  # 2-8 s at 2 fps
            s = j * slot + int(rng.integers(0, max(1, slot - length)))
            x[s : s + length] += 2.0 * centres[c]
            segs.append(Segment(f"class{c:02d}", s / fps, (s + length) / fps))
        videos.append(TrainVideo(torch.from_numpy(x), fps, segs, f"v{v}"))
    return videos


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the timings."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--methods", default="plot-tal,coop,prototype")
    ap.add_argument("--towers", default="ViT-B-32,otstudio-tiny")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    videos = make_videos()
    classes = sorted({s.label for v in videos for s in v.segments})
    n_frames = sum(int(v.features.shape[0]) for v in videos)
    print(
        f"{len(classes)} classes x 5 shots, {len(videos)} videos, {n_frames} frames at 2 fps "
        f"({n_frames / 2 / 60:.1f} min), D={videos[0].features.shape[1]}, threads={args.threads}"
    )
    for tower_name in args.towers.split(","):
        tower = load_text_tower(tower_name, seed=0)
        for method in args.methods.split(","):
            if method == "prototype" and tower_name != args.towers.split(",")[0]:
                continue  # no text tower involved
            over = {} if args.epochs is None else {"epochs": args.epochs}
            cfg = with_method(PlotTALConfig(), method, **over)
            t0 = time.perf_counter()
            model = fit(videos, classes, cfg, tower=tower)
            t_train = time.perf_counter() - t0
            t0 = time.perf_counter()
            pred = predict(model, videos[0].features, 2.0)
            t_pred = time.perf_counter() - t0
            print(
                f"{method:<10} tower={tower_name:<14} epochs={cfg.epochs:<4} train {t_train:7.1f} s "
                f"({t_train / BUDGET_S:.2f} of the 120 s budget)  predict 300 frames {t_pred:5.2f} s  "
                f"({len(pred.segments)} segments)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
