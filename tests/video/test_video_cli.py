"""``otstudio extract`` end to end with the tiny model and a test-written weights file."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

from otcore.video.cli import main
from otcore.video.model_configs import TINY_MODEL


@pytest.fixture()
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OTSTUDIO_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("OTSTUDIO_CLIP_WEIGHTS", raising=False)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network used")

    monkeypatch.setattr(socket, "create_connection", refuse)


def test_extract_writes_features_and_prints_where(
    small_video: Path, tiny_weights: Path, data_dir: Path, offline: None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        str(small_video),
        "--fps",
        "2",
        "--model",
        TINY_MODEL,
        "--pretrained",
        "none",
        "--weights",
        str(tiny_weights),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    path = Path(out[-1])
    assert path.is_file() and path.parent == data_dir / "features"
    assert "extracted: 28 x 64 features at 2 fps" in out[0]
    with np.load(path) as z:
        assert z["features"].shape == (28, 64) and float(z["fps"]) == 2.0
    assert main(argv + ["--quiet"]) == 0  # second run: cache hit
    assert capsys.readouterr().out.startswith("already extracted")


def test_extract_to_out_dir(
    small_video: Path,
    tiny_weights: Path,
    tmp_path: Path,
    offline: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OTSTUDIO_CLIP_WEIGHTS", str(tiny_weights))
    out_dir = tmp_path / "out"
    assert (
        main(
            [
                str(small_video),
                "--fps",
                "1",
                "--model",
                TINY_MODEL,
                "--pretrained",
                "none",
                "--out",
                str(out_dir),
                "--data-dir",
                str(tmp_path / "d"),
                "--backend",
                "pyav",
                "--quiet",
            ]
        )
        == 0
    )
    assert Path(capsys.readouterr().out.strip().splitlines()[-1]).parent == out_dir


def test_bad_video_exits_2(tmp_path: Path, offline: None, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "notes.mp4"
    bad.write_text("hello")
    assert main([str(bad), "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "notes.mp4 is not a video" in err
    assert main([str(tmp_path / "missing.mp4"), "--data-dir", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err


def test_missing_weights_exits_2(
    small_video: Path, tmp_path: Path, offline: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(small_video), "--data-dir", str(tmp_path)]) == 2  # default ViT-B-32 / openai
    err = capsys.readouterr().err
    assert "ViT-B-32 (openai)" in err and "OTSTUDIO_CLIP_WEIGHTS" in err
    assert not (tmp_path / "features").exists() or not any((tmp_path / "features").iterdir())
