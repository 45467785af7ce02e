"""``otstudio extract VIDEO --fps 2 [--model M] [--pretrained TAG] [--weights FILE] [--out DIR]``.

Extracts CLIP features of one video file into the feature cache (``--out``, default the
data dir's ``features/``) and prints where they are. ``otstudio extract --project NAME
[--engine local|ray] [--address ADDR]`` extracts a whole project's videos instead
(:mod:`otcore.jobs.ray_extract`, dispatched by ``otcore.cli``). Bad videos and missing weights exit
with code 2 and a message on stderr.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

__all__ = ["main", "build_parser", "sampling_fps", "MAX_SAMPLE_FPS", "MAX_BATCH"]


#: Bounds of ``--fps`` (sampled frames per second) and ``--batch`` (frames per encoder batch).
MAX_SAMPLE_FPS = 240.0
MAX_BATCH = 4096


def sampling_fps(text: str) -> float:
    """``--fps`` of feature sampling: a finite number in ``(0, MAX_SAMPLE_FPS]`` (argparse type)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(v) or not 0 < v <= MAX_SAMPLE_FPS:
        raise argparse.ArgumentTypeError(f"must be a finite number in (0, {MAX_SAMPLE_FPS:g}], got {text!r}")
    return v


def _batch(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= v <= MAX_BATCH:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_BATCH}, got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``otstudio extract``."""
    ap = argparse.ArgumentParser(
        prog="otstudio extract",
        description=(
            "Extract per-frame CLIP features of a video file (cached by content, model, weights, fps)."
        ),
        epilog=(
            "A project's videos: otstudio extract --project NAME [--engine local|ray] [--address ADDR] "
            "[--slots N] (see otstudio extract --project NAME --help)."
        ),
    )
    ap.add_argument("video", help="video file (mp4, mkv, avi, webm, ...)")
    ap.add_argument(
        "--fps",
        type=sampling_fps,
        default=2.0,
        help=f"sampled frames per second, in (0, {MAX_SAMPLE_FPS:g}] (default 2)",
    )
    ap.add_argument("--model", default=None, help="open_clip model name (default: setting, ViT-B-32)")
    ap.add_argument(
        "--pretrained",
        default=None,
        help="open_clip weights tag (default: setting, 'openai'; 'none' when --weights are custom)",
    )
    ap.add_argument("--weights", default=None, help="local weights file (default: $OTSTUDIO_CLIP_WEIGHTS)")
    ap.add_argument("--out", default=None, help="output folder (default: <data dir>/features)")
    ap.add_argument(
        "--data-dir", default=None, help="otstudio data dir (default: $OTSTUDIO_DATA_DIR or ~/.otstudio)"
    )
    ap.add_argument(
        "--batch",
        type=_batch,
        default=None,
        help=f"frames per encoder batch, 1 to {MAX_BATCH} (default: sized from the available memory)",
    )
    ap.add_argument("--backend", default=None, choices=["auto", "decord", "pyav"], help="video decoder")
    ap.add_argument("--device", default=None, help="torch device (default: automatic)")
    ap.add_argument("--quiet", action="store_true", help="no progress output")
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run ``otstudio extract``; returns the exit code (0 ok, 2 bad input or missing weights)."""
    args = build_parser().parse_args(argv)
    from otcore.settings import load_settings
    from otcore.video.decode import probe
    from otcore.video.encoders import WeightsNotFound, auto_batch, load_clip
    from otcore.video.errors import VideoError
    from otcore.video.features import FeatureCache, extract_cached

    settings = load_settings(args.data_dir)
    model = args.model or settings.clip_model
    pretrained = args.pretrained if args.pretrained is not None else settings.clip_pretrained
    if pretrained and pretrained.lower() in ("none", ""):
        pretrained = None
    weights = args.weights or settings.clip_weights_file
    out_dir = Path(args.out) if args.out else settings.features_dir
    video = Path(args.video)
    try:
        info = probe(video, backend=args.backend)
    except VideoError as e:
        print(f"otstudio extract: {e}", file=sys.stderr)
        return 2
    try:
        encoder = load_clip(model, pretrained, weights_file=weights, device=args.device, image_only=True)
    except WeightsNotFound as e:
        print(f"otstudio extract: {e}", file=sys.stderr)
        return 2

    def progress(fraction: float, message: str) -> None:
        if not args.quiet:
            print(f"\r{fraction * 100:5.1f}%  {message}", end="", file=sys.stderr, flush=True)

    try:
        feats, path, cached = extract_cached(
            video,
            encoder,
            FeatureCache(out_dir),
            fps=args.fps,
            batch=args.batch or auto_batch(encoder),
            progress=progress,
            backend=args.backend,
        )
    except VideoError as e:
        print(f"\notstudio extract: {e}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(file=sys.stderr)
    what = "already extracted" if cached else "extracted"
    print(
        f"{what}: {feats.n_frames} x {feats.features.shape[1]} features at {feats.fps:g} fps "
        f"({encoder.model_id}) from {video.name} ({info.duration:.1f} s, {info.backend})"
    )
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
