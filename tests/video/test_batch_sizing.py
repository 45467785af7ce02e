"""Encoder batch size from the available memory: the documented rule, its clamps, and who wins."""

from __future__ import annotations

import pytest

from otcore.video import encoders as E


def test_frame_bytes_follows_the_rule_for_a_vision_transformer(tiny_encoder: E.ClipEncoder) -> None:
    # otstudio-tiny: 32x32 input, 16-pixel patches (2x2 grid + class token = 5 tokens), width 64,
    # head width 32 (2 heads)
    h, w = tiny_encoder.image_size
    pixels = 3 * h * w * 4
    tokens, width, heads = 5, 64, 2
    want = 4 * pixels + (8 * tokens * width + 2 * heads * tokens * tokens) * 4
    assert E.frame_bytes(tiny_encoder) == want
    assert E.frame_bytes(tiny_encoder, queue_size=4) == want + 2 * pixels


def test_auto_batch_fits_the_budget_and_is_clamped(tiny_encoder: E.ClipEncoder) -> None:
    per = E.frame_bytes(tiny_encoder)
    # budget = fraction x available: exactly k frames fit, k - 1 when a byte is missing
    for k in (1, 7, 20):
        avail = int(k * per / E.BATCH_MEMORY_FRACTION) + 4
        assert E.auto_batch(tiny_encoder, available=avail) == k
        short = int((k * per - 1) / E.BATCH_MEMORY_FRACTION)
        assert E.auto_batch(tiny_encoder, available=short) == max(1, k - 1)
    assert E.auto_batch(tiny_encoder, available=0) == 1  # never below one frame
    assert E.auto_batch(tiny_encoder, available=10**15) == E.AUTO_BATCH_MAX  # never above the largest
    # the cap bounds the budget whatever the machine has
    assert E.auto_batch(tiny_encoder, available=10**15, cap=3 * per, largest=10**6) == 3
    sizes = [E.auto_batch(tiny_encoder, available=m * 2**20) for m in (1, 4, 16, 64, 256)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_available_memory_on_the_cpu_is_a_positive_byte_count() -> None:
    m = E.available_memory("cpu")
    assert m is not None and m > 2**20


def test_vit_b32_batch_on_this_machine() -> None:
    """The real ViT-B-32 architecture (random weights): ~3.9 MB per frame, so 64 frames fit 512 MB."""
    enc = E.load_clip("ViT-B-32", "openai", random_weights=True, device="cpu", image_only=True)
    per = E.frame_bytes(enc)
    assert 3e6 < per < 5e6
    assert E.auto_batch(enc, available=8 * 2**30) == E.AUTO_BATCH_MAX
    assert E.auto_batch(enc, available=400 * 2**20) == int(100 * 2**20 // per)


def test_explicit_batch_wins_in_the_job_and_the_cli(tiny_encoder: E.ClipEncoder) -> None:
    from otcore.jobs.extract import ExtractRequest, _batch_size
    from otcore.video.cli import build_parser

    assert ExtractRequest(video_id=1).batch is None
    assert _batch_size(5, tiny_encoder) == 5
    assert _batch_size(None, tiny_encoder) == E.auto_batch(tiny_encoder)
    assert build_parser().parse_args(["x.mp4"]).batch is None
    assert build_parser().parse_args(["x.mp4", "--batch", "8"]).batch == 8
    with pytest.raises(SystemExit):
        build_parser().parse_args(["x.mp4", "--batch", "0"])
