"""Label descriptions on the Annotate page's label manager and on the Train page (AppTest)."""

from __future__ import annotations

import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # the ui package sits at the repository root
    sys.path.insert(0, str(REPO))

from otcore.settings import load_settings  # noqa: E402
from otcore.store import EditLog, Store  # noqa: E402


def _seed(data_dir: Path):
    store = Store.from_settings(load_settings(data_dir))
    p = store.create_project("D")
    v = store.add_video(p.id, "a.mp4", "videos/a.mp4", "a" * 64, 8.0, 25.0, 200, 8, 8)
    lab = store.ensure_label(p.id, "jump", "#ff0000")
    EditLog(store).add_segment(v.id, "jump", 1.0, 2.0)
    return store, p, lab


def _app(page: str, project_id: int) -> AppTest:
    at = AppTest.from_file(str(REPO / "pages" / page), default_timeout=60)
    at.session_state["project_id"] = project_id
    return at.run()


def test_annotate_label_manager_sets_shows_and_refuses_descriptions(data_dir: Path) -> None:
    store, p, lab = _seed(data_dir)
    at = _app("annotate.py", p.id)
    assert not at.exception, at.exception
    at.text_area(key=f"labels_description_{lab.id}").input("a person leaps over a bar").run()
    assert not at.exception, at.exception
    assert store.get_label(lab.id).description == "a person leaps over a bar"  # type: ignore[union-attr]
    assert any("Description of **jump** saved" in s.value for s in at.success)
    table = next(d.value for d in at.dataframe if "description" in d.value.columns)
    assert list(table["description"]) == ["a person leaps over a bar"]
    at.text_area(key=f"labels_description_{lab.id}").input("bell\x07").run()
    assert not at.exception, at.exception
    assert any("U+0007" in e.value for e in at.error)  # one clear line, nothing changed
    assert store.get_label(lab.id).description == "a person leaps over a bar"  # type: ignore[union-attr]
    store.close()


def test_train_page_edits_descriptions_and_says_they_need_clip_weights(data_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("OTSTUDIO_NO_WORKER", "1")
    store, p, lab = _seed(data_dir)
    at = _app("train.py", p.id)
    assert not at.exception, at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "only carry meaning with real CLIP weights" in text and "they carry none" in text
    at.text_area(key=f"train_description_{lab.id}").input("  someone jumps high  ").run()
    assert not at.exception, at.exception
    assert store.get_label(lab.id).description == "someone jumps high"  # type: ignore[union-attr]
    assert any("1 of 1 labels described" in e.label for e in at.expander)
    at.text_area(key=f"train_description_{lab.id}").input("").run()
    assert store.get_label(lab.id).description == ""  # type: ignore[union-attr]
    store.close()
