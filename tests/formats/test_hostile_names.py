"""No export writes outside its folder, every name comes from one sanitiser, no CSV cell runs as
a formula, and unsafe video names in an import are stored safely."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest

from otcore.formats import VideoAnnotations, read, write
from otcore.formats.csvfile import escape_cell, unescape_cell
from otcore.formats.model import AnnotationSet
from otcore.formats.names import MAX_NAME, NameAllocator, safe_name
from otcore.types import Segment

HOSTILE_VIDEOS = [
    "../../somewhere/x.mp4",
    "/abs/path/x.mp4",
    "..\\..\\win\\y.mp4",
    "C:\\Users\\z.mp4",
    "C:evil.mp4",
    "..",
    ".",
    "/",
    "nul",
    "CON.mp4",
    "a\x00b\x1f.mp4",
    "v" * 300 + ".mp4",
    "w" * 300 + ".mp4",
    "same.mp4",
    "SAME.mp4",
    "x/../../../etc/passwd",
]
HOSTILE_LABELS = [
    "../../etc/cron.d/x",
    "/abs/label",
    "a\\b",
    "=cmd|' /C calc'!A0",
    "+1",
    "-1+2",
    "@SUM(A1)",
    "ok",
]


def _hostile_set(fmt: str = "") -> AnnotationSet:
    ann = AnnotationSet()
    videos = HOSTILE_VIDEOS
    if fmt == "thumos":  # a THUMOS line is "video start end": names with spaces cannot be written
        videos = [v for v in videos if v.isprintable() and " " not in v]
    for i, v in enumerate(videos):
        ann[v] = VideoAnnotations(
            duration=10.0,
            fps=10.0,
            segments=[Segment(lab, 0.1 * k, 0.1 * k + 0.5) for k, lab in enumerate(HOSTILE_LABELS)],
        )
        assert i >= 0
    return ann


def _all_files(root: Path) -> set[Path]:
    return {p.resolve() for p in root.rglob("*") if p.is_file()}


def test_safe_name_rules():
    for text in [*HOSTILE_VIDEOS, *HOSTILE_LABELS, "", "   ", "a" * 10_000]:
        name = safe_name(text)
        assert name and name not in (".", "..") and len(name) <= MAX_NAME
        assert "/" not in name and "\\" not in name and ":" not in name
        assert all(ord(c) >= 32 for c in name)
        assert name.lower().split(".")[0] not in {"con", "nul", "prn", "aux"}
    assert safe_name("v_x.mp4") == "v_x.mp4"  # ordinary names are kept
    assert safe_name("../../somewhere/x.mp4") == "x.mp4"
    # long names stay apart
    assert safe_name("v" * 300) != safe_name("v" * 299 + "w")


def test_collisions_are_made_unique_and_reported():
    names = NameAllocator()
    got = [names.name(t, ".txt") for t in ["a/x", "b/x", "X", "x"]]
    assert len({g.lower() for g in got}) == 4
    assert got[0] == "x.txt" and got[1] == "x~2.txt"
    assert names.renamed["b/x"] == "x~2.txt" and "x" in names.renamed  # made unique: reported


@pytest.mark.parametrize("fmt", ["thumos", "frames", "eaf", "vtt"])
def test_folder_exports_stay_in_their_folder(tmp_path: Path, fmt: str):
    root = tmp_path / "sandbox"
    out = root / "deep" / "out"
    root.mkdir()
    (root / "keep.txt").write_text("x")
    written = write(_hostile_set(fmt), out, fmt)
    outside = _all_files(root) - _all_files(out)
    assert outside == {(root / "keep.txt").resolve()}, outside
    assert not list(tmp_path.parent.glob("somewhere")) and not (Path("/abs/path/x.mp4.txt").exists())
    for p in written:
        assert p.resolve().is_relative_to(out.resolve()) and p.parent.resolve() == out.resolve()
        assert len(p.name) <= MAX_NAME
    assert len({p.name.lower() for p in written}) == len(written)
    expected = len(HOSTILE_LABELS) if fmt == "thumos" else len(HOSTILE_VIDEOS)
    assert len(written) == expected
    assert written.renamed  # what the sanitiser changed is reported


def test_thumos_labels_that_cannot_be_file_names_come_back(tmp_path: Path):
    ann = AnnotationSet(
        {"v1": VideoAnnotations(10.0, None, [Segment(lab, 1.0, 2.0) for lab in HOSTILE_LABELS])}
    )
    write(ann, tmp_path / "t", "thumos")
    back, rep = read(tmp_path / "t", "thumos")
    assert not rep.skipped
    assert sorted(s.label for s in back["v1"].segments) == sorted(x.strip() for x in HOSTILE_LABELS)


def test_csv_cells_never_run_as_formulas(tmp_path: Path):
    ann = AnnotationSet(
        {
            '=HYPERLINK("http://x")': VideoAnnotations(
                10.0, None, [Segment(lab, 1.0, 2.0) for lab in HOSTILE_LABELS if lab.strip()]
            )
        }
    )
    ann['=HYPERLINK("http://x")'].sources = ["@manual"] * len(ann['=HYPERLINK("http://x")'].segments)
    p = tmp_path / "a.csv"
    write(ann, p, "csv")
    rows = list(csv.reader(io.StringIO(p.read_text())))
    for row in rows[1:]:
        for i in (0, 1, 5):  # text cells: video, label, source
            assert row[i][:1] not in ("=", "+", "-", "@", "\t", "\r"), row
    back, _ = read(p, "csv", on_outside="keep")
    (video,) = back
    assert video == '=HYPERLINK("http://x")'
    assert [s.label for s in back[video].segments] == [lab.strip() for lab in HOSTILE_LABELS if lab.strip()]
    assert escape_cell("\tx") == "'\tx" and escape_cell("\rx") == "'\rx"
    for text in ["=1", "'=1", "''=1", "plain", "'plain", "-", "@", "\tx"]:
        assert unescape_cell(escape_cell(text)) == text


def test_unsafe_names_in_an_import_are_stored_safely(tmp_path: Path, data_dir: Path):
    from otcore.settings import load_settings
    from otcore.store import Store
    from otcore.transfer import export_from_store, import_into_store

    src = tmp_path / "in.csv"
    src.write_text(
        "video,label,start,end\n"
        "../../somewhere/x.mp4,Jump,1,2\n"
        "/abs/path/x.mp4,Jump,1,2\n"
        "C:\\\\evil\\\\y.mp4,Jump,1,2\n"
        "plain.mp4,Jump,1,2\n"
    )
    st = Store.from_settings(load_settings(data_dir))
    try:
        report = import_into_store(st, src, "p")
        names = sorted(v.filename for v in st.list_videos(st.get_project("p").id))
        assert names == ["plain.mp4", "x.mp4", "x~2.mp4", "y.mp4"]
        assert (
            report.renamed["../../somewhere/x.mp4"] == "x.mp4"
            and report.renamed["/abs/path/x.mp4"] == "x~2.mp4"
        )
        assert "stored as 'x~2.mp4'" in report.summary()
        for fmt in ("frames", "eaf", "vtt", "thumos"):
            out = tmp_path / "exports" / fmt
            written = export_from_store(st, "p", out, fmt, fps=10.0 if fmt == "frames" else None)
            assert all(p.resolve().parent == out.resolve() for p in written)
        assert not (tmp_path / "somewhere").exists()
    finally:
        st.close()


def test_download_zip_holds_only_safe_names(tmp_path: Path, data_dir: Path):
    """Even video rows whose names were never sanitised (made by hand) give a safe zip."""
    from otcore.settings import load_settings
    from otcore.store import EditLog, Store
    from ui.review import export_bundle

    st = Store.from_settings(load_settings(data_dir))
    try:
        p = st.ensure_project("../../proj/..")
        for i, name in enumerate(HOSTILE_VIDEOS[:6]):
            v = st.add_video(p.id, name, "", f"{i:064d}", 10.0, 10.0, 100, None, None)
            EditLog(st).add_segment(v.id, HOSTILE_LABELS[i % 3], 1.0, 2.0)
        for fmt in ("thumos", "frames", "eaf", "vtt"):
            bundle = export_bundle(st, p.id, fmt)
            assert "/" not in bundle.filename and ".." not in bundle.filename.replace(".zip", "")
            with zipfile.ZipFile(io.BytesIO(bundle.data)) as zf:
                names = zf.namelist()
            assert names
            for n in names:
                parts = n.split("/")
                assert not n.startswith("/") and "\\" not in n and ".." not in parts and "" not in parts, n
                assert all(ord(c) >= 32 for c in n)
    finally:
        st.close()
