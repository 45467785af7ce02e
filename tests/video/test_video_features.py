"""Feature extraction (overlapped pipeline), the on-disk cache, precomputed feature files."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from otcore.types import VideoFeatures
from otcore.video import features as FT
from otcore.video.decode import iter_frames, probe
from otcore.video.errors import CorruptVideo


def test_extract_matches_direct_encoding(small_video: Path, tiny_encoder) -> None:
    calls: list[tuple[float, str]] = []
    stats: list[FT.ExtractStats] = []
    vf = FT.extract_features(
        small_video, tiny_encoder, fps=2.0, batch=8, progress=lambda f, m: calls.append((f, m)), stats=stats
    )
    info = probe(small_video)
    assert isinstance(vf, VideoFeatures)
    assert vf.features.shape == (int(np.ceil(info.duration * 2)), 64) == (28, 64)
    assert vf.fps == 2.0 and vf.model_id == tiny_encoder.model_id
    torch.testing.assert_close(vf.features.norm(dim=-1), torch.ones(28))
    direct = torch.cat(
        [
            tiny_encoder.encode_images(f)
            for _, f in iter_frames(small_video, fps=2.0, size=tiny_encoder.short_side, batch=8)
        ]
    )
    torch.testing.assert_close(vf.features, direct, atol=1e-5, rtol=1e-4)
    fractions = [f for f, _ in calls]
    assert len(calls) == 4 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert stats and stats[0].n_frames == 28


def test_rows_follow_time(tmp_path: Path, tiny_encoder) -> None:
    """Different scenes at different times give different rows; same scene, same row."""
    from video_testutil import write_video

    path = write_video(tmp_path / "ramp.mp4", n=48, rate=12, w=64, h=64)  # 4 s, red ramps up
    vf = FT.extract_features(path, tiny_encoder, fps=1.0)
    assert vf.n_frames == 4
    sims = vf.features @ vf.features.T
    assert sims[0, 1] > sims[0, 3]


def test_cancel_between_batches_stops_the_decoder(small_video: Path, tiny_encoder) -> None:
    class Cancelled(Exception):
        pass

    seen = []

    def check() -> None:
        seen.append(1)
        if len(seen) == 2:
            raise Cancelled()

    before = threading.active_count()
    with pytest.raises(Cancelled):
        FT.extract_features(small_video, tiny_encoder, fps=4.0, batch=4, check_cancelled=check)
    assert not any(t.name == "otstudio-decode" and t.is_alive() for t in threading.enumerate())
    assert threading.active_count() <= before


def test_decoder_errors_reach_the_caller(
    small_video: Path, tiny_encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object):
        yield np.zeros(2), np.zeros((2, 32, 40, 3), np.uint8)
        raise CorruptVideo("clip.mp4 is damaged at 1.0 s")

    monkeypatch.setattr(FT, "iter_frames", broken)
    with pytest.raises(CorruptVideo, match="damaged"):
        FT.extract_features(small_video, tiny_encoder, fps=2.0, batch=2)


def test_cache_roundtrip_and_keys(tmp_path: Path) -> None:
    cache = FT.FeatureCache(tmp_path / "features")
    feats = torch.nn.functional.normalize(torch.randn(10, 16), dim=-1)
    vf = VideoFeatures(feats, fps=2.0, model_id="ViT-B-32-quickgelu/openai")
    sha = "a" * 64
    assert cache.get(sha, vf.model_id, "w1", 2.0) is None
    path = cache.put(sha, vf, "w1")
    assert path.exists() and path.parent == tmp_path / "features"
    got = cache.get(sha, vf.model_id, "w1", 2)
    assert got is not None and got.fps == 2.0 and got.model_id == vf.model_id
    assert got.features.dtype == torch.float32
    torch.testing.assert_close(got.features, feats, atol=2e-3, rtol=0)  # float16 on disk
    with np.load(path) as z:
        assert z["features"].dtype == np.float16
    # any other key component misses
    assert cache.get(sha, vf.model_id, "w2", 2.0) is None
    assert cache.get(sha, vf.model_id, "w1", 1.0) is None
    assert cache.get(sha, "ViT-B-32/laion", "w1", 2.0) is None
    assert cache.get("b" * 64, vf.model_id, "w1", 2.0) is None
    # a damaged file is a miss, not a crash
    path.write_bytes(b"garbage")
    assert cache.get(sha, vf.model_id, "w1", 2.0) is None
    assert not [p for p in (tmp_path / "features").iterdir() if p.name.startswith(".")]


def test_extract_cached_skips_when_key_matches(
    small_video: Path, tiny_encoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = FT.FeatureCache(tmp_path)
    vf, path, cached = FT.extract_cached(small_video, tiny_encoder, cache, fps=1.0)
    assert not cached and path.exists() and vf.n_frames == 14

    def must_not_run(*a: object, **k: object) -> None:
        raise AssertionError("re-extracted although the key matches")

    monkeypatch.setattr(FT, "extract_features", must_not_run)
    vf2, path2, cached2 = FT.extract_cached(small_video, tiny_encoder, cache, fps=1.0)
    assert cached2 and path2 == path
    torch.testing.assert_close(vf2.features, vf.features, atol=2e-3, rtol=0)


def test_load_i3d_npy_with_duration(shared_data: Path) -> None:
    vf = FT.load_features_file(shared_data / "clips_labeled" / "highjump.npy", duration=24.2)
    assert vf.features.shape == (164, 2048) and vf.features.dtype == torch.float32
    assert vf.fps == pytest.approx(164 / 24.2)  # ~4.4 video frames (30 fps) per row
    assert vf.model_id == "file:highjump.npy"
    vf2 = FT.load_features_file(shared_data / "clips_labeled" / "tennis26.npy", fps=30 / 4.4, model_id="i3d")
    assert vf2.model_id == "i3d" and vf2.n_frames == 89


def test_load_breakfast_txt(shared_data: Path) -> None:
    path = shared_data / "breakfast_cte" / "dummy_data" / "features" / "coffee" / "P03_cam01_P03_coffee.txt"
    vf = FT.load_features_file(path, fps=15.0)
    gt = (
        (shared_data / "breakfast_cte" / "dummy_data" / "groundTruth" / "P03_cam01_P03_coffee")
        .read_text()
        .split()
    )
    assert vf.features.shape == (len(gt), 64) and vf.fps == 15.0


def test_load_npz_csv_and_errors(tmp_path: Path) -> None:
    arr = np.arange(12, dtype=np.float64).reshape(4, 3)
    np.savez(tmp_path / "f.npz", features=arr, fps=np.float64(5.0))
    vf = FT.load_features_file(tmp_path / "f.npz")
    assert vf.fps == 5.0 and vf.features.shape == (4, 3)
    assert FT.load_features_file(tmp_path / "f.npz", fps=1.0).fps == 1.0  # argument wins
    np.savetxt(tmp_path / "f.csv", arr, delimiter=",")
    vf = FT.load_features_file(tmp_path / "f.csv", fps=2.0)
    torch.testing.assert_close(vf.features, torch.tensor(arr, dtype=torch.float32))
    np.save(tmp_path / "dt.npy", arr.T)
    assert FT.load_features_file(tmp_path / "dt.npy", fps=1.0, transpose=True).features.shape == (4, 3)
    np.save(tmp_path / "nofps.npy", arr)
    with pytest.raises(ValueError, match="fps"):
        FT.load_features_file(tmp_path / "nofps.npy")
    with pytest.raises(ValueError, match="unsupported"):
        FT.load_features_file(tmp_path / "x.h5", fps=1.0)
    # extracted files load back as precomputed features
    saved = FT.save_features_file(tmp_path / "mine.npz", VideoFeatures(torch.ones(3, 2), 2.0, "m/x"))
    back = FT.load_features_file(saved)
    assert back.fps == 2.0 and back.model_id == "m/x"
