"""Feature-extraction benchmark: is extraction bound by the image encoder?

Measures, in one run on the same machine state:

1. decode-only sampled frames/s (decord or PyAV, resized while decoding, no encoding);
2. the encoder's own throughput on ready tensors (batches of ``--batch``, random pixels);
3. end-to-end sampled frames/s: decode + preprocess + encode + write the features file;
4. their ratio (target >= 0.7: decoding/preprocessing overlap with encoding);
5. peak resident memory during extraction and for the whole process.

The encoder throughput is measured before and after the end-to-end run and averaged,
since the machine is shared and noisy. The model is the real ViT-B-32 architecture
(QuickGELU variant, as paired with OpenAI weights) with **random weights**: no network and
no weights file are needed, and speed/memory do not depend on the weight values.

Usage::

    .venv/bin/python benchmarks/extract_bench.py            # the full 10-minute film
    .venv/bin/python benchmarks/extract_bench.py --seconds 60
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from otcore.video.decode import iter_frames, probe  # noqa: E402
from otcore.video.encoders import load_clip  # noqa: E402
from otcore.video.features import ExtractStats, FeatureCache, extract_features  # noqa: E402

DEFAULT_VIDEO = REPO.parent / "shared" / "data" / "videos_long" / "big_buck_bunny_10min_720p.mp4"
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float:
    """Current resident set size in MB (Linux /proc; falls back to the peak)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE / 1e6
    except OSError:
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb * 1024 / 1e6 if sys.platform != "darwin" else kb / 1e6


class RssSampler:
    """Polls RSS in a thread to get the peak over a block of code."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0.0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb())
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self.peak = rss_mb()
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, rss_mb())


def encoder_throughput(encoder, batch: int, n_batches: int) -> float:
    """Images/s of ``encode_pixels`` on ready normalized tensors (after one warm-up batch)."""
    x = torch.randn(batch, 3, *encoder.image_size, device=encoder.device)
    encoder.encode_pixels(x)
    t0 = time.perf_counter()
    for _ in range(n_batches):
        encoder.encode_pixels(x)
    return batch * n_batches / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures (``--json FILE`` also writes them)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--seconds", type=float, default=None, help="only the first N seconds of the video")
    ap.add_argument("--fps", type=float, default=2.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--model", default="ViT-B-32")
    ap.add_argument("--enc-batches", type=int, default=6, help="batches per encoder-throughput measurement")
    ap.add_argument("--backend", default=None, choices=["auto", "decord", "pyav"])
    ap.add_argument("--with-text", action="store_true", help="keep the text tower in memory (as the UI does)")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = ap.parse_args(argv)

    video = Path(args.video)
    if not video.is_file():
        print(f"video not found: {video}", file=sys.stderr)
        return 2
    info = probe(video, backend=args.backend)
    if args.seconds is not None and args.seconds < info.duration:
        info = dataclasses.replace(info, duration=float(args.seconds))
    rss_start = rss_mb()
    encoder = load_clip(
        args.model, "openai", random_weights=True, device="cpu", image_only=not args.with_text
    )
    rss_model = rss_mb()
    print(
        f"video      {video.name}: {info.duration:.1f} s used, {info.width}x{info.height}, "
        f"{info.fps:g} fps, {info.codec}, decoder {info.backend}"
    )
    print(
        f"model      {encoder.model_id} ({encoder.embed_dim}-d) with RANDOM weights (no network): "
        f"speed and memory do not depend on the weight values"
    )
    print(f"threads    torch {torch.get_num_threads()}, cpus {os.cpu_count()}")

    # 1. decode only
    t0 = time.perf_counter()
    n_dec = 0
    for t, _ in iter_frames(
        video, fps=args.fps, size=encoder.short_side, batch=args.batch, backend=args.backend, info=info
    ):
        n_dec += len(t)
    decode_fps = n_dec / (time.perf_counter() - t0)
    print(
        f"decode     {decode_fps:8.1f} sampled frames/s  ({n_dec} frames, resized to short side "
        f"{encoder.short_side})"
    )

    # 2. encoder on ready tensors (before)
    enc_before = encoder_throughput(encoder, args.batch, args.enc_batches)
    print(f"encoder    {enc_before:8.1f} images/s on ready tensors (batches of {args.batch})")

    # 3. end to end, including writing the features file
    stats: list[ExtractStats] = []
    with tempfile.TemporaryDirectory() as tmp, RssSampler() as sampler:
        rss_before = rss_mb()
        t0 = time.perf_counter()
        feats = extract_features(
            video, encoder, fps=args.fps, batch=args.batch, backend=args.backend, info=info, stats=stats
        )
        out = FeatureCache(tmp).put("0" * 64, feats, encoder.weights_id)
        e2e_s = time.perf_counter() - t0
        size_kb = out.stat().st_size / 1e3
    e2e_fps = feats.n_frames / e2e_s
    st = stats[0]
    print(
        f"end-to-end {e2e_fps:8.1f} sampled frames/s  ({feats.n_frames} frames in {e2e_s:.1f} s = "
        f"{info.duration / e2e_s:.1f}x real time; encoder busy {st.encode_seconds:.1f} s, waited on decoding "
        f"{st.wait_seconds:.1f} s; file {size_kb:.0f} kB)"
    )

    # 2b. encoder again (after), averaged
    enc_after = encoder_throughput(encoder, args.batch, args.enc_batches)
    enc_fps = (enc_before + enc_after) / 2
    ratio = e2e_fps / enc_fps
    print(f"encoder    {enc_after:8.1f} images/s after; mean {enc_fps:.1f}")
    print(f"ratio      {ratio:8.2f}  end-to-end / encoder (target >= 0.7)")
    print(
        f"memory     peak RSS during extraction {sampler.peak:.0f} MB = torch/decoders imported "
        f"{rss_start:.0f} MB + model {rss_model - rss_start:.0f} MB + decoding/encoding "
        f"{sampler.peak - rss_model:.0f} MB (RSS right before extraction {rss_before:.0f} MB); "
        f"process peak {peak_rss_mb():.0f} MB"
    )
    result = {
        "video": video.name,
        "seconds": info.duration,
        "fps": args.fps,
        "batch": args.batch,
        "model_id": encoder.model_id,
        "random_weights": True,
        "decoder": info.backend,
        "decode_fps": decode_fps,
        "encoder_fps_before": enc_before,
        "encoder_fps_after": enc_after,
        "encoder_fps": enc_fps,
        "end_to_end_fps": e2e_fps,
        "ratio": ratio,
        "realtime_factor": info.duration / e2e_s,
        "encode_seconds": st.encode_seconds,
        "wait_seconds": st.wait_seconds,
        "peak_rss_extraction_mb": sampler.peak,
        "rss_before_extraction_mb": rss_before,
        "rss_after_imports_mb": rss_start,
        "rss_after_model_mb": rss_model,
        "image_only": not args.with_text,
        "peak_rss_process_mb": peak_rss_mb(),
        "torch_threads": torch.get_num_threads(),
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
