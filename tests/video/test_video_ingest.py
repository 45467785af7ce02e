"""Ingest: streamed, hashed, probed before commit, deduplicated; bad input leaves the store untouched."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from video_testutil import REAL_VIDEOS

from otcore.video.errors import CorruptVideo, EmptyFile, NotAVideo, TooLarge, UnsafeName, VideoError
from otcore.video.ingest import find_stored, import_folder, ingest_file, sanitize_filename


def snapshot(d: Path) -> dict[str, str]:
    """Every file under d (hidden included) with its content hash."""
    if not d.exists():
        return {}
    return {
        str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in d.rglob("*") if p.is_file()
    }


class ChunkStream(io.RawIOBase):
    """A binary upload stream that records the largest read it served."""

    def __init__(self, data: bytes, name: str | None = None) -> None:
        self._buf = io.BytesIO(data)
        self.max_read = 0
        if name:
            self.name = name

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        self.max_read = max(self.max_read, n if n >= 0 else 1 << 62)
        return self._buf.read(n)


@pytest.mark.parametrize("name", REAL_VIDEOS)
def test_ingest_real_video_from_path(videos_dir: Path, tmp_path: Path, name: str) -> None:
    src = videos_dir / name
    out = ingest_file(src, None, tmp_path / "videos")
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    assert out.sha256 == sha and not out.duplicate
    assert out.path == tmp_path / "videos" / f"{sha}{src.suffix.lower()}"
    assert out.path.read_bytes() == src.read_bytes()
    assert out.filename == name and out.size == src.stat().st_size
    assert out.probe.n_frames > 0
    assert sorted(p.name for p in (tmp_path / "videos").iterdir()) == [out.path.name]  # no temp left


def test_ingest_stream_is_chunked_and_dedupes(small_video: Path, tmp_path: Path) -> None:
    data = small_video.read_bytes()
    vdir = tmp_path / "videos"
    s1 = ChunkStream(data)
    first = ingest_file(s1, "walk the dog.mp4", vdir, max_bytes=len(data), chunk_size=64 * 1024)
    assert s1.max_read == 64 * 1024  # never asked for the whole upload at once
    assert first.filename == "walk the dog.mp4" and not first.duplicate
    before = snapshot(vdir)
    again = ingest_file(ChunkStream(data), "other name.mp4", vdir)
    assert again.duplicate and again.path == first.path and again.sha256 == first.sha256
    assert snapshot(vdir) == before
    assert find_stored(vdir, first.sha256) == first.path


def test_stream_name_is_used_when_no_filename(small_video: Path, tmp_path: Path) -> None:
    out = ingest_file(ChunkStream(small_video.read_bytes(), name="/uploads/../clip.MP4"), None, tmp_path)
    assert out.filename == "clip.MP4" and out.path.suffix == ".mp4"


@pytest.fixture()
def stocked(videos_dir: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A videos dir that already holds one video, and its snapshot."""
    vdir = tmp_path / "videos"
    ingest_file(videos_dir / "example.avi", None, vdir)
    return vdir, snapshot(vdir)


def test_over_the_limit_while_streaming(small_video: Path, stocked: tuple[Path, dict[str, str]]) -> None:
    vdir, before = stocked
    data = small_video.read_bytes()
    stream = ChunkStream(data)
    with pytest.raises(TooLarge, match="upload limit") as err:
        ingest_file(stream, "big.mp4", vdir, max_bytes=100_000, chunk_size=32 * 1024)
    assert "big.mp4" in str(err.value)
    assert stream._buf.tell() <= 100_000 + 32 * 1024  # stopped early, did not read everything
    assert snapshot(vdir) == before


def test_over_the_limit_from_path(small_video: Path, stocked: tuple[Path, dict[str, str]]) -> None:
    vdir, before = stocked
    with pytest.raises(TooLarge):
        ingest_file(small_video, None, vdir, max_bytes=1000)
    assert snapshot(vdir) == before


def _bad_files(videos_dir: Path) -> dict[str, tuple[bytes, type[VideoError]]]:
    mp4 = (videos_dir / "v_ZNVhz7ctTq0.mp4").read_bytes()
    avi = (videos_dir / "example.avi").read_bytes()
    rng = np.random.default_rng(1)
    return {
        "empty.mp4": (b"", EmptyFile),
        "readme.mp4": (b"# not a video\n" * 100, NotAVideo),
        "noise.mp4": (rng.integers(0, 256, 100_000, dtype=np.uint8).tobytes(), NotAVideo),
        "half.mp4": (mp4[: len(mp4) // 2], CorruptVideo),
        "half.avi": (avi[: len(avi) // 2], CorruptVideo),
        "header_only.mp4": (mp4[:4096], CorruptVideo),
    }


@pytest.mark.parametrize(
    "bad", ["empty.mp4", "readme.mp4", "noise.mp4", "half.mp4", "half.avi", "header_only.mp4"]
)
@pytest.mark.parametrize("via", ["path", "stream"])
def test_bad_input_is_rejected_and_nothing_stored_changes(
    videos_dir: Path, stocked: tuple[Path, dict[str, str]], tmp_path: Path, bad: str, via: str
) -> None:
    vdir, before = stocked
    data, expected = _bad_files(videos_dir)[bad]
    src_dir = tmp_path / "src"
    src_dir.mkdir()
    (src_dir / bad).write_bytes(data)
    src = src_dir / bad if via == "path" else ChunkStream(data)
    with pytest.raises(expected) as err:
        ingest_file(src, bad, vdir)
    msg = str(err.value)
    assert bad in msg and ".upload-" not in msg  # names the user's file, not our temp file
    assert snapshot(vdir) == before


def test_bad_copy_of_stored_video_does_not_touch_it(
    videos_dir: Path, stocked: tuple[Path, dict[str, str]]
) -> None:
    """A truncated upload of a video that is already stored must not replace or remove it."""
    vdir, before = stocked
    avi = (videos_dir / "example.avi").read_bytes()
    with pytest.raises(CorruptVideo):
        ingest_file(ChunkStream(avi[: len(avi) // 2]), "example.avi", vdir)
    assert snapshot(vdir) == before


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("../../etc/passwd.mp4", "passwd.mp4"),
        ("/abs/path/clip.mkv", "clip.mkv"),
        ("C:\\Users\\me\\Videos\\jump.avi", "jump.avi"),
        ("C:jump.avi", "jump.avi"),
        ("a\x00b.mp4", "ab.mp4"),
        ("tab\tname\n.mp4", "tabname.mp4"),
        ("what?*.mp4", "what__.mp4"),
        ("..hidden.mp4", "hidden.mp4"),
        ("été vidéo.mov", "été vidéo.mov"),
    ],
)
def test_sanitize_filename(raw: str, clean: str) -> None:
    assert sanitize_filename(raw) == clean


@pytest.mark.parametrize("raw", ["", "..", "../", "/", "\x00", "....", "a/b/.."])
def test_unusable_names(raw: str) -> None:
    with pytest.raises(UnsafeName, match="no usable name"):
        sanitize_filename(raw)


def test_path_tricks_cannot_escape_the_videos_dir(small_video: Path, tmp_path: Path) -> None:
    vdir = tmp_path / "data" / "videos"
    out = ingest_file(ChunkStream(small_video.read_bytes()), "../../../outside.mp4", vdir)
    assert out.path.parent == vdir and out.filename == "outside.mp4"
    assert not (tmp_path / "outside.mp4").exists() and not (tmp_path / "data" / "outside.mp4").exists()
    with pytest.raises(UnsafeName):
        ingest_file(ChunkStream(small_video.read_bytes()), "..", vdir)
    assert [p.name for p in vdir.iterdir()] == [out.path.name]


def test_import_folder_reports_per_file(videos_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "collection"
    (src / "sub").mkdir(parents=True)
    for name in ["demo_demo.mp4", "example.avi"]:
        (src / name).write_bytes((videos_dir / name).read_bytes())
    (src / "sub" / "flipping_a_pancake.mkv").write_bytes((videos_dir / "flipping_a_pancake.mkv").read_bytes())
    (src / "sub" / "copy_of_demo.mp4").write_bytes((videos_dir / "demo_demo.mp4").read_bytes())
    (src / "broken.mp4").write_text("nope")
    (src / "notes.txt").write_text("ignored: not a video extension")
    vdir = tmp_path / "videos"
    results = list(import_folder(src, vdir))
    by_name = {r.source.name: r for r in results}
    assert set(by_name) == {
        "demo_demo.mp4",
        "example.avi",
        "flipping_a_pancake.mkv",
        "copy_of_demo.mp4",
        "broken.mp4",
    }
    assert isinstance(by_name["broken.mp4"].error, NotAVideo) and not by_name["broken.mp4"].ok
    dup = [r for r in results if r.ok and r.video.duplicate]
    assert len(dup) == 1 and dup[0].video.sha256 == by_name["demo_demo.mp4"].video.sha256
    assert len([p for p in vdir.iterdir()]) == 3
    with pytest.raises(VideoError):
        list(import_folder(tmp_path / "missing", vdir))
