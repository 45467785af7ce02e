"""Fixtures for the video tests: real clips, synthetic files, the tiny CLIP with test-written weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from video_testutil import REAL_VIDEOS, SMALL_VIDEO  # noqa: F401


@pytest.fixture(scope="session")
def videos_dir(shared_data: Path) -> Path:
    d = shared_data / "videos"
    if not d.is_dir():
        pytest.skip(f"no real videos at {d}")
    return d


@pytest.fixture(scope="session")
def small_video(videos_dir: Path) -> Path:
    return videos_dir / SMALL_VIDEO


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """State dict of the tiny open_clip config with random weights, written by the test."""
    import open_clip

    from otcore.video.model_configs import TINY_MODEL, register_model_configs

    register_model_configs()
    torch.manual_seed(0)
    model = open_clip.create_model(TINY_MODEL, pretrained=None)
    path = tmp_path_factory.mktemp("weights") / "otstudio-tiny.pt"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def tiny_encoder(tiny_weights: Path):
    from otcore.video.encoders import load_clip
    from otcore.video.model_configs import TINY_MODEL

    return load_clip(TINY_MODEL, None, weights_file=tiny_weights, device="cpu")
