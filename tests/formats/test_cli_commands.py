"""``otstudio add`` and the argument bounds of ``otstudio extract`` (clear messages, exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from otcore.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fps", "nan"], "argument --fps: must be a finite number in (0, 240]"),
        (["--fps", "inf"], "argument --fps: must be a finite number"),
        (["--fps", "0"], "argument --fps: must be a finite number"),
        (["--fps", "1e6"], "argument --fps: must be a finite number"),
        (["--fps", "two"], "argument --fps: not a number"),
        (["--batch", "0"], "argument --batch: must be between 1 and 4096"),
        (["--batch", "1.5"], "argument --batch: not a whole number"),
    ],
)
def test_extract_arguments_are_bounded(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as info:
        main(["extract", "video.mp4", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_add_videos_to_a_project(shared_data: Path, tmp_path: Path, data_dir: Path, capsys):
    from otcore.settings import load_settings
    from otcore.store import Store

    good = shared_data / "clips_labeled" / "highjump.mp4"
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    rc = main(["add", str(good), str(bad), "--project", "jumps", "--no-extract", "--data-dir", str(data_dir)])
    out, err = capsys.readouterr()
    assert rc == 1  # one file failed, the other was added
    assert "added highjump.mp4" in out and "notes.mp4" in err and "Traceback" not in err
    assert main(["add", str(good), "--project", "jumps", "--no-extract", "--data-dir", str(data_dir)]) == 0
    assert "already in the project as highjump.mp4" in capsys.readouterr().out
    st = Store.from_settings(load_settings(data_dir))
    try:
        (video,) = st.list_videos(st.get_project("jumps").id)
        assert video.filename == "highjump.mp4" and len(st.frame_times(video.id)) == 726
        assert not [p for p in (data_dir / "videos").iterdir() if p.name.startswith(".upload-")]
    finally:
        st.close()
    with pytest.raises(SystemExit):
        main(["add", str(good), "--project", "jumps", "--fps", "nan"])
    assert main(["add", str(good), "--project", "  ", "--data-dir", str(data_dir)]) == 2
