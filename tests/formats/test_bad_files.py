"""Every bad or hostile annotation file gets a clear message, no traceback, and leaves the store
exactly as it was (the SQLite file's bytes and a full dump of every table, compared)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from otcore.formats import FormatError
from otcore.formats.safezip import ZipLimits
from otcore.store import EditLog, Store
from otcore.transfer import import_into_store, import_main
from tests.formats.bad_corpus import CORPUS, HEADER


def _seeded(db: Path) -> None:
    st = Store(f"sqlite:///{db}", data_dir=db.parent)
    try:
        p = st.ensure_project("p")
        v = st.add_video(p.id, "v1.mp4", "", "1" * 64, 10.0, 25.0, 250, None, None)
        EditLog(st).add_segment(v.id, "Jump", 1.0, 2.0)
    finally:
        st.close()


def _state(db: Path) -> tuple[str, str]:
    """(sha256 of the database file, full SQL dump) with no connection open."""
    con = sqlite3.connect(db)
    try:
        dump = "\n".join(con.iterdump())
    finally:
        con.close()
    return hashlib.sha256(db.read_bytes()).hexdigest(), dump


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data" / "otstudio.db"
    path.parent.mkdir()
    _seeded(path)
    yield path


@pytest.mark.parametrize(
    ("case", "name", "content", "options", "message"), CORPUS, ids=[c[0] for c in CORPUS]
)
def test_bad_file_is_refused_and_changes_nothing(
    db: Path, tmp_path: Path, case: str, name: str, content: bytes, options: dict, message: str
):
    src = tmp_path / name
    src.write_bytes(content)
    before = _state(db)
    opts = dict(options)
    project = opts.pop("project", "p")
    fmt = opts.pop("fmt", "auto")
    st = Store(f"sqlite:///{db}", data_dir=db.parent)
    try:
        with pytest.raises(FormatError) as info:
            import_into_store(st, src, project, fmt, **opts)
    finally:
        st.close()
    text = str(info.value)
    assert message in text, text
    assert "Traceback" not in text and len(text.splitlines()[0]) < 400
    assert _state(db) == before, f"{case}: the store changed"


def test_cli_refuses_bad_files_with_one_message(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data_dir = str(db.parent)
    before = _state(db)
    for case, name, content, options, message in CORPUS:
        if set(options) - {"fmt"}:
            continue
        src = tmp_path / f"cli-{name}"
        src.write_bytes(content)
        argv = [str(src), "--project", "p", "--data-dir", data_dir]
        if "fmt" in options:
            argv += ["--format", options["fmt"]]
        assert import_main(argv) == 1, case
        err = capsys.readouterr().err
        assert err.startswith("otstudio import: ") and message in err and "Traceback" not in err, (case, err)
    assert _state(db) == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fps", "0"], "must be a finite number in (0, 1000]"),
        (["--fps", "nan"], "must be a finite number"),
        (["--fps", "inf"], "must be a finite number"),
        (["--fps", "1e6"], "must be a finite number"),
        (["--fps", "abc"], "not a number"),
        (["--on-outside", "drop"], "invalid choice"),
    ],
)
def test_cli_arguments_are_validated(db: Path, tmp_path: Path, capsys, argv: list[str], message: str):
    src = tmp_path / "a.csv"
    src.write_bytes(HEADER + b"v1,Jump,1,2\n")
    before = _state(db)
    with pytest.raises(SystemExit) as info:
        import_main([str(src), "--project", "p", "--data-dir", str(db.parent), *argv])
    assert info.value.code == 2
    assert message in capsys.readouterr().err
    assert _state(db) == before


def test_an_encoding_reads_latin1_text_exactly(db: Path, tmp_path: Path):
    src = tmp_path / "a.csv"
    src.write_bytes(HEADER + "v1,Caf\xe9,1,2\n".encode("latin-1"))
    st = Store(f"sqlite:///{db}", data_dir=db.parent)
    try:
        report = import_into_store(st, src, "p", encoding="latin-1")
        assert report.imported == 1
        assert "Café" in {lb.name for lb in st.list_labels(st.get_project("p").id)}
    finally:
        st.close()


def test_skip_invalid_imports_the_rest_and_names_every_row(db: Path, tmp_path: Path):
    src = tmp_path / "a.csv"
    src.write_bytes(HEADER + b"v1,Jump,3,4\nv1,,1,2\nv1,Jump,x,2\nv2,Run,0,1\n")
    st = Store(f"sqlite:///{db}", data_dir=db.parent)
    try:
        with pytest.raises(FormatError, match="2 invalid row"):
            import_into_store(st, src, "p")
        report = import_into_store(st, src, "p", skip_invalid=True)
        assert report.imported == 2 and report.videos_created == 1
        assert sorted((s.where, s.detail.split(":")[0]) for s in report.skipped) == [
            ("line 3", "empty video or label"),
            ("line 4", "bad number"),
        ]
    finally:
        st.close()


def test_duplicates_are_kept_and_flagged_or_skipped_when_asked(db: Path, tmp_path: Path):
    src = tmp_path / "a.csv"
    src.write_bytes(HEADER + b"v9,Jump,1,2\nv9,Jump,1,2\nv9,Jump,1.5,3\n")
    st = Store(f"sqlite:///{db}", data_dir=db.parent)
    try:
        report = import_into_store(st, src, "dups")
        assert report.imported == 3
        assert report.flag_counts() == {"duplicate of an earlier row": 1, "overlaps a same-label segment": 1}
        report = import_into_store(st, src, "dups2", skip_duplicates=True)
        assert report.imported == 2 and report.counts() == {"duplicate of an earlier row": 1}
        assert [s.where for s in report.skipped] == ["line 3"]
    finally:
        st.close()


def test_a_store_failure_partway_leaves_nothing_behind(db: Path, tmp_path: Path, monkeypatch):
    """Project, labels and placeholder videos are written in the same transaction as the segments."""
    import otcore.store.bulk as bulk

    src = tmp_path / "a.csv"
    src.write_bytes(HEADER + b"".join(b"w%d,Jump,1,2\n" % i for i in range(30)))
    before = _state(db)
    real = bulk._insert_returning

    def failing(s, table, rows, progress, what):
        if what == "segments":
            raise RuntimeError("disk full")
        return real(s, table, rows, progress, what)

    monkeypatch.setattr(bulk, "_insert_returning", failing)
    st = Store(f"sqlite:///{db}", data_dir=db.parent)
    try:
        with pytest.raises(RuntimeError, match="disk full"):
            import_into_store(st, src, "new project")
    finally:
        st.close()
    assert _state(db) == before


def test_zip_total_size_cap(db: Path, tmp_path: Path):
    import zipfile

    src = tmp_path / "a.zip"
    with zipfile.ZipFile(src, "w", zipfile.ZIP_STORED) as zf:
        for i in range(5):
            zf.writestr(f"C{i}.txt", b"v1 1 2\n" * 40_000)
    before = _state(db)
    st = Store(f"sqlite:///{db}", data_dir=db.parent)
    try:
        with pytest.raises(FormatError, match="a zip import takes at most 1 MB"):
            import_into_store(st, src, "p", zip_limits=ZipLimits(max_total_bytes=2**20))
    finally:
        st.close()
    assert _state(db) == before
    st = Store(f"sqlite:///{db}", data_dir=db.parent)
    try:
        # within the caps the same zip imports (a folder of THUMOS class files)
        report = import_into_store(st, src, "zipped")
        assert report.fmt == "thumos" and report.imported == 5 * 40_000
    finally:
        st.close()
    assert _state(db)[1].count('INSERT INTO "segment"') > 1


def test_lying_zip_headers_stop_at_the_cap(tmp_path: Path):
    """A member whose header declares a small size but expands further is stopped while streaming."""
    import zipfile

    from otcore.formats.safezip import extract_zip

    src = tmp_path / "a.zip"
    with zipfile.ZipFile(src, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.txt", b"x" * 3000)
    data = bytearray(src.read_bytes())
    # patch the declared uncompressed size (central directory and local header) to 10 bytes
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = (10).to_bytes(4, "little")
    data[22:26] = (10).to_bytes(4, "little")
    src.write_bytes(bytes(data))
    with pytest.raises(FormatError):
        extract_zip(src, tmp_path / "out", ZipLimits(max_total_bytes=1000, max_ratio=1e9))
    assert not (tmp_path / "out").exists()
