"""Training time of the few-shot detector at the product's target size, beside the text tower alone.

Setting (the speed requirement): 5 marked shots × 20 classes in 10 minutes of video at 2 fps (1,200 frames,
split into 4 videos of 150 s), CLIP-sized frame features (D = 512), segments of 2-8 s. The text tower is the
real ViT-B-32 architecture (12 layers, width 512; random frozen weights offline, which costs the same as
pretrained ones).

Per method, interleaved and repeated (``--repeats``), three timings:

- ``train``: what ``otstudio train`` runs once the features are loaded — the ``train_fewshot`` job's own
  config (:func:`otcore.jobs.fewshot._config`, with the class-name context initialisation a pretrained
  tower gets), :func:`~otcore.methods.plot_tal.fit`, then :func:`~otcore.methods.plot_tal.predict` on every
  video (with plans, as the job saves them);
- ``tower``: the text tower alone for the same steps — the prompt encoder's forward + backward once per
  epoch, plus the two forwards without gradient that ``fit`` also runs (class-bias prior, frozen prompts);
- ``rest`` = ``train − tower``: the OT engine (Sinkhorn per pyramid level and in the OT term), adapter,
  heads, losses and decoding.

Prints per-run lines, then median [min-max] and mean ± std per timing, the tower's share, the ratio to the
60 s budget and the load average before/after (the machine may be shared).

    .venv/bin/python benchmarks/train_bench.py [--threads 2] [--repeats 3] [--epochs N] [--methods plot-tal,coop]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from otcore.jobs.fewshot import TrainRequest, _config
from otcore.methods.plot_tal import PlotTALConfig, TrainVideo, fit, predict
from otcore.methods.prompts import PromptEncoder, TextTower, load_text_tower
from otcore.types import Segment

BUDGET_S = 60.0


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


def job_config(method: str, epochs: int | None) -> PlotTALConfig:
    """The config the ``train_fewshot`` job builds for ``method`` with a pretrained CLIP text tower."""
    return _config(TrainRequest(method=method, epochs=epochs), names_meaningful=True)


def time_train(videos: list[TrainVideo], classes: list[str], cfg: PlotTALConfig, tower: TextTower) -> float:
    """Seconds of ``fit`` + ``predict`` on every video, as the job runs them."""
    t0 = time.perf_counter()
    model = fit(videos, classes, cfg, tower=tower)
    for v in videos:
        predict(model, v.features, v.fps)
    return time.perf_counter() - t0


def time_tower(classes: list[str], cfg: PlotTALConfig, tower: TextTower) -> float:
    """Seconds of the prompt encoder alone: forward + backward per epoch, + 2 forwards without gradient."""
    enc = PromptEncoder.from_tower(
        tower,
        classes,
        n_prompts=cfg.prompts_per_class,
        n_ctx=cfg.n_ctx,
        generator=torch.Generator().manual_seed(cfg.seed),
        init_text=cfg.ctx_init or None,
    )
    opt = torch.optim.AdamW([enc.learner.ctx], lr=cfg.lr)
    t0 = time.perf_counter()
    with torch.no_grad():
        enc()
    for _ in range(cfg.epochs):
        g = enc()
        opt.zero_grad(set_to_none=True)
        g.square().sum().backward()  # type: ignore[no-untyped-call]
        opt.step()
    with torch.no_grad():
        enc()
    return time.perf_counter() - t0


def _load() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _stats(xs: list[float]) -> str:
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return (
        f"median {statistics.median(xs):6.1f} [{min(xs):.1f}-{max(xs):.1f}]  "
        f"mean {statistics.mean(xs):6.1f} ± {sd:4.1f} s"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the timings."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="torch threads (the budget is for 2 cores)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=None, help="default: the job's (the method's) epochs")
    ap.add_argument("--methods", default="plot-tal,coop")
    ap.add_argument("--tower", default="ViT-B-32")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    videos = make_videos()
    classes = sorted({s.label for v in videos for s in v.segments})
    n_frames = sum(int(v.features.shape[0]) for v in videos)
    tower = load_text_tower(args.tower, seed=0)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    print(
        f"{len(classes)} classes x 5 shots, {len(videos)} videos, {n_frames} frames at 2 fps "
        f"({n_frames / 2 / 60:.1f} min), D={videos[0].features.shape[1]}, text tower {tower.model_id}, "
        f"threads={args.threads}, {os.cpu_count()} CPUs, load {_load()}"
    )
    runs: dict[str, dict[str, list[float]]] = {m: {"train": [], "tower": []} for m in methods}
    timers: list[tuple[str, str, Callable[[PlotTALConfig], float]]] = []
    for m in methods:
        timers.append((m, "train", lambda cfg: time_train(videos, classes, cfg, tower)))
        if m != "prototype":
            timers.append((m, "tower", lambda cfg: time_tower(classes, cfg, tower)))
    for r in range(args.repeats):
        order = timers if r % 2 == 0 else timers[::-1]  # interleaved, alternating order
        for m, what, fn in order:
            cfg = job_config(m, args.epochs)
            before = _load()
            t = fn(cfg)
            runs[m][what].append(t)
            print(
                f"run {r + 1} {m:<9} {what:<5} epochs={cfg.epochs:<4} {t:7.1f} s  load {before} -> {_load()}",
                flush=True,
            )
    print()
    for m in methods:
        tr, tw = runs[m]["train"], runs[m]["tower"]
        med_tr = statistics.median(tr)
        print(f"{m:<9} train  {_stats(tr)}  ({med_tr / BUDGET_S:.2f} of the {BUDGET_S:.0f} s budget)")
        if tw:
            med_tw = statistics.median(tw)
            rest = [a - b for a, b in zip(tr, tw)]
            print(f"{m:<9} tower  {_stats(tw)}  ({med_tw / med_tr:.0%} of train)")
            print(f"{m:<9} rest   {_stats(rest)}  (OT engine, adapter, heads, decoding)")
    print(f"load average at the end {_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
