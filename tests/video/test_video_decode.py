"""Decoding real and damaged files with both backends, fallback and sampling rules."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from video_testutil import REAL_VIDEOS, write_video

from otcore.video import backends as B
from otcore.video import decode as D
from otcore.video.errors import CorruptVideo, EmptyFile, NoFrames, NotAVideo, VideoError

BACKENDS = ["decord", "pyav"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", REAL_VIDEOS)
def test_probe_real_videos(videos_dir: Path, name: str, backend: str) -> None:
    info = D.probe(videos_dir / name, backend=backend)
    assert info.backend == backend
    assert info.n_frames > 10 and info.width > 0 and info.height > 0
    assert info.fps > 1
    # duration agrees with frame count / fps to within a couple of frames
    assert abs(info.duration - info.n_frames / info.fps) < 3 / info.fps + 0.1
    assert info.codec in {"h264", "mpeg4"}


def test_backends_agree_on_frame_times_and_pixels(small_video: Path) -> None:
    t_dec = D.frame_times(small_video, backend="decord")
    t_av = D.frame_times(small_video, backend="pyav")
    assert t_dec.shape == t_av.shape
    assert np.all(np.diff(t_dec) > 0) and t_dec[0] == 0.0
    np.testing.assert_allclose(t_dec, t_av, atol=1e-3)
    fa = np.concatenate([f for _, f in D.iter_frames(small_video, fps=1.0, size=112, backend="decord")])
    fb = np.concatenate([f for _, f in D.iter_frames(small_video, fps=1.0, size=112, backend="pyav")])
    assert fa.shape == fb.shape
    assert np.abs(fa.astype(float) - fb.astype(float)).mean() < 3.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_iter_frames_rate_size_and_batches(small_video: Path, backend: str) -> None:
    info = D.probe(small_video, backend=backend)  # 14 s, 480x360
    batches = list(D.iter_frames(small_video, fps=2.0, size=224, batch=8, backend=backend, info=info))
    times = np.concatenate([t for t, _ in batches])
    assert all(len(t) <= 8 and f.shape[0] == len(t) for t, f in batches)
    assert times.size == int(np.ceil(info.duration * 2.0 - 1e-6)) == 28
    np.testing.assert_allclose(times, np.arange(times.size) / 2.0)
    f = batches[0][1]
    assert f.dtype == np.uint8 and f.shape[1:] == (224, 300, 3)  # 480x360 -> short side 224, even width


@pytest.mark.parametrize("backend", BACKENDS)
def test_sampling_picks_the_frame_shown_at_each_time(tmp_path: Path, backend: str) -> None:
    # 24 frames at 12 fps; frame i has red = 10 i. At 4 fps, t_k = k/4 shows frame 3k.
    path = write_video(tmp_path / "ramp.mp4", n=24, rate=12)
    out = list(D.iter_frames(path, fps=4.0, size=None, batch=5, backend=backend))
    times = np.concatenate([t for t, _ in out])
    red = np.concatenate([f[:, :, :, 0].mean(axis=(1, 2)) for _, f in out])
    assert times.size == 8
    np.testing.assert_allclose(red, 30 * np.arange(8), atol=6)


def test_env_var_forces_backend(small_video: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(D.BACKEND_ENV, "pyav")
    assert D.probe(small_video).backend == "pyav"
    monkeypatch.setenv(D.BACKEND_ENV, "decord")
    assert D.probe(small_video).backend == "decord"
    monkeypatch.setenv(D.BACKEND_ENV, "nonsense")
    with pytest.raises(ValueError):
        D.probe(small_video)


def test_auto_falls_back_to_pyav_when_decord_fails(
    small_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated decord failure")

    monkeypatch.setattr(B, "decord_open", broken)
    info = D.probe(small_video, backend="auto")
    assert info.backend == "pyav"
    assert D.frame_times(small_video, backend="auto").size == info.n_frames
    n = sum(len(t) for t, _ in D.iter_frames(small_video, fps=2.0, size=64, backend="auto"))
    assert n == 28
    with pytest.raises(VideoError):  # a forced backend never falls back
        D.probe(small_video, backend="decord")


def test_auto_falls_back_mid_stream(small_video: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = B.decord_open

    class FlakyReader:
        def __init__(self, vr: object) -> None:
            self.vr, self.calls = vr, 0

        def __getattr__(self, name: str) -> object:
            return getattr(self.vr, name)

        def __len__(self) -> int:
            return len(self.vr)  # type: ignore[arg-type]

        def __getitem__(self, i: int) -> object:
            return self.vr[i]  # type: ignore[index]

        def get_batch(self, idx: list[int]) -> object:
            self.calls += 1
            if self.calls > 1:
                raise RuntimeError("simulated decode error")
            return self.vr.get_batch(idx)  # type: ignore[attr-defined]

    monkeypatch.setattr(B, "decord_open", lambda *a, **k: FlakyReader(real_open(*a, **k)))
    info = D.probe(small_video, backend="auto")
    assert info.backend == "decord"
    ref = np.concatenate(
        [f for _, f in D.iter_frames(small_video, fps=2.0, size=64, batch=8, backend="pyav")]
    )
    out = list(D.iter_frames(small_video, fps=2.0, size=64, batch=8, backend="auto", info=info))
    times = np.concatenate([t for t, _ in out])
    frames = np.concatenate([f for _, f in out])
    np.testing.assert_allclose(times, np.arange(28) / 2.0)
    assert np.abs(frames.astype(float) - ref.astype(float)).mean() < 3.0


def test_av1_reads_through_pyav_fallback(tmp_path: Path) -> None:
    import av

    if "libsvtav1" not in av.codecs_available and "libaom-av1" not in av.codecs_available:
        pytest.skip("no AV1 encoder in this PyAV build")
    enc = "libsvtav1" if "libsvtav1" in av.codecs_available else "libaom-av1"
    path = write_video(
        tmp_path / "clip_av1.mp4",
        codec=enc,
        n=24,
        rate=12,
        options={"preset": "12"} if enc == "libsvtav1" else {"cpu-used": "8"},
    )
    info = D.probe(path)  # auto
    assert info.codec == "av1"
    assert info.backend == "pyav"  # decord cannot read AV1
    assert info.n_frames == 24
    assert sum(len(t) for t, _ in D.iter_frames(path, fps=2.0, size=32)) == 4


# ---------------------------------------------------------------- bad input


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="no such file"):
        D.probe(tmp_path / "nope.mp4")


@pytest.mark.parametrize("backend", [None, "decord", "pyav"])
def test_zero_length(tmp_path: Path, backend: str | None) -> None:
    p = tmp_path / "empty.mp4"
    p.write_bytes(b"")
    with pytest.raises(EmptyFile, match="empty"):
        D.probe(p, backend=backend)


@pytest.mark.parametrize("backend", [None, "decord", "pyav"])
def test_text_renamed_mp4_is_not_a_video(tmp_path: Path, backend: str | None) -> None:
    p = tmp_path / "notes.mp4"
    p.write_text("this is a text file, not a video\n" * 50)
    with pytest.raises(NotAVideo, match="notes.mp4 is not a video"):
        D.probe(p, backend=backend)


def test_random_bytes_are_not_a_video(tmp_path: Path) -> None:
    p = tmp_path / "noise.mkv"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    with pytest.raises(NotAVideo):
        D.probe(p)


@pytest.mark.parametrize("name", ["bigbuckbunny.mp4", "v_ZNVhz7ctTq0.mp4", "example.avi"])
@pytest.mark.parametrize("backend", [None, "pyav"])
def test_truncated_files_are_corrupt(
    videos_dir: Path, tmp_path: Path, name: str, backend: str | None
) -> None:
    data = (videos_dir / name).read_bytes()
    p = tmp_path / f"cut_{name}"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptVideo) as err:
        D.probe(p, backend=backend)
    assert p.name in str(err.value)
    assert "truncated" in str(err.value) or "damaged" in str(err.value)


def test_audio_only_has_no_frames(tmp_path: Path) -> None:
    import av

    p = tmp_path / "sound.mp4"
    with av.open(str(p), "w") as c:
        s = c.add_stream("aac", rate=16000)
        for i in range(10):
            fr = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            fr.sample_rate, fr.pts = 16000, i * 1024
            for pkt in s.encode(fr):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    with pytest.raises(NoFrames, match="no video stream"):
        D.probe(p)


def test_sample_times_and_resize_dims() -> None:
    np.testing.assert_allclose(D.sample_times(1.0, 2.0), [0.0, 0.5])
    np.testing.assert_allclose(D.sample_times(1.01, 2.0), [0.0, 0.5, 1.0])
    assert D.sample_times(0.1, 2.0).size == 1
    assert D.resize_dims(1280, 720, 224) == (398, 224)
    assert D.resize_dims(360, 640, 224) == (224, 398)
    assert D.resize_dims(320, 240, None) == (320, 240)
    with pytest.raises(ValueError):
        D.sample_times(1.0, 0.0)


def test_no_file_handles_leak(small_video: Path) -> None:
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.is_dir():
        pytest.skip("no /proc")
    before = len(os.listdir(fd_dir))
    for b in BACKENDS:
        for _ in range(3):
            D.probe(small_video, backend=b)
            list(D.iter_frames(small_video, fps=1.0, size=32, backend=b))
    assert len(os.listdir(fd_dir)) <= before + 2
