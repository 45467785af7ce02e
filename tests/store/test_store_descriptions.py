"""Label descriptions in the store: the 0005 migration, setting/clearing/validating, bulk by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from otcore.store import NotFoundError, Store, StoreError
from otcore.store.engine import upgrade_database
from otcore.store.labels import MAX_DESCRIPTION, check_description


def _downgrade(store: Store, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from otcore.store.api import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_upgrade_from_0004_keeps_the_labels_and_downgrade_drops_the_column(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    upgrade_database(engine, "0004")
    assert "description" not in {c["name"] for c in inspect(engine).get_columns("label")}
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO project (id, name, created_at) VALUES (1, 'p', '2026-01-01 00:00:00')")
        )
        conn.execute(
            text(
                "INSERT INTO label (id, project_id, name, color, created_at, position) "
                "VALUES (1, 1, 'jump', '#E69F00', '2026-01-01 00:00:00', 1), "
                "(2, 1, 'swing', '#56B4E9', '2026-01-01 00:00:00', 2)"
            )
        )
    engine.dispose()
    st = Store(url)  # migrates to head
    assert st.revision() == "0005"
    labels = st.list_labels(1)
    assert [(lb.name, lb.color, lb.position, lb.description) for lb in labels] == [
        ("jump", "#E69F00", 1, ""),
        ("swing", "#56B4E9", 2, ""),
    ]
    st.set_label_description(1, "a person leaps over a bar")
    assert st.get_label(1).description == "a person leaps over a bar"  # type: ignore[union-attr]
    _downgrade(st, "0004")
    assert "description" not in {c["name"] for c in inspect(st.engine).get_columns("label")}
    with st.engine.connect() as conn:
        assert conn.execute(text("SELECT name, color FROM label ORDER BY id")).all() == [
            ("jump", "#E69F00"),
            ("swing", "#56B4E9"),
        ]
    upgrade_database(st.engine)
    assert st.get_label(1).description == ""  # type: ignore[union-attr]  # dropped with the column
    st.close()


def test_set_get_and_clear_a_description(store: Store) -> None:
    p = store.create_project("desc")
    lab = store.ensure_label(p.id, "blorp")
    assert lab.description == ""
    got = store.set_label_description(lab.id, "  a red circle moves right\r\non a black background  ")
    assert got.description == "a red circle moves right\non a black background"
    assert store.list_labels(p.id)[0].description == got.description
    assert store.label_descriptions(p.id) == {"blorp": got.description}
    renamed = store.rename_label(lab.id, "circle")  # the description stays with the label
    assert renamed.description == got.description
    assert store.set_label_description(lab.id, "   ").description == ""
    assert store.label_descriptions(p.id) == {}
    with pytest.raises(NotFoundError):
        store.set_label_description(10**6, "x")


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ("x" * (MAX_DESCRIPTION + 1), "at most 2000"),
        ("bell\x07", "U\\+0007"),
        ("nul\x00", "U\\+0000"),
        ("line\u2028sep", "U\\+2028"),
        (42, "must be text"),
    ],
)
def test_bad_descriptions_are_refused_and_nothing_changes(store: Store, bad: object, match: str) -> None:
    p = store.create_project("bad-desc")
    lab = store.ensure_label(p.id, "jump")
    store.set_label_description(lab.id, "before")
    with pytest.raises(StoreError, match=match):
        store.set_label_description(lab.id, bad)  # type: ignore[arg-type]
    assert store.get_label(lab.id).description == "before"  # type: ignore[union-attr]


def test_check_description_keeps_tabs_and_line_breaks() -> None:
    assert check_description("a\tb\nc") == "a\tb\nc"
    assert check_description(None) == ""
    assert check_description("x" * MAX_DESCRIPTION) == "x" * MAX_DESCRIPTION


def test_set_descriptions_by_name_is_all_or_nothing(store: Store) -> None:
    p = store.create_project("bulk-desc")
    a = store.ensure_label(p.id, "a")
    store.ensure_label(p.id, "b")
    with pytest.raises(NotFoundError, match="'zzz'"):
        store.set_label_descriptions(p.id, {"a": "first", "zzz": "nope"})
    with pytest.raises(StoreError, match="U\\+0001"):
        store.set_label_descriptions(p.id, {"a": "first", "b": "bad\x01"})
    assert store.label_descriptions(p.id) == {}
    got = store.set_label_descriptions(p.id, {"a": "first", "b": "second"})
    assert [lb.description for lb in got] == ["first", "second"]
    store.set_label_descriptions(p.id, {"b": None})
    assert store.label_descriptions(p.id) == {"a": "first"}
    assert store.get_label(a.id).description == "first"  # type: ignore[union-attr]
