"""Migrations: the schema is created from empty, matches the models, and opening is race-safe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import otcore
from otcore.store import Store, StoreError
from otcore.store.engine import head_revision, upgrade_database
from otcore.store.models import Base

TABLES = {
    "project",
    "video",
    "label",
    "segment",
    "edit",
    "job",
    "artifact",
    "video_feature",
    "alembic_version",
}


def test_migrations_create_schema_from_empty(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    engine = create_engine(url)
    assert inspect(engine).get_table_names() == []
    engine.dispose()
    st = Store(url)
    assert set(inspect(st.engine).get_table_names()) == TABLES
    assert st.revision() == head_revision() == "0005"
    st.close()


def test_models_match_migrations(store: Store) -> None:
    """Autogenerate finds no difference between the migrated database and the models."""
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_downgrade_and_upgrade_again(store: Store) -> None:
    upgrade_database(store.engine, "head")  # idempotent
    from alembic import command
    from alembic.config import Config

    from otcore.store.api import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(store.engine).get_table_names()) <= {"alembic_version"}
    upgrade_database(store.engine)
    assert set(inspect(store.engine).get_table_names()) == TABLES
    p = store.create_project("after-migrations")
    assert store.get_project(p.id) == p


def test_two_processes_opening_a_new_database_at_once(tmp_path: Path, store_url: str) -> None:
    """The app and the worker may open (and migrate) the same empty database together."""
    if store_url.startswith("sqlite"):
        store_url = f"sqlite:///{tmp_path / 'race.db'}"
    else:  # start the PostgreSQL database from empty
        st = Store(store_url, migrate=False)
        with st.engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                table.drop(conn, checkfirst=True)
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        st.close()
    # The children skip the ``otcore`` package initialiser (it imports torch: seconds of start-up)
    # by pre-registering the package; the store itself needs only SQLAlchemy and Alembic.
    code = (
        "import sys, types\n"
        "pkg = types.ModuleType('otcore'); pkg.__path__ = [sys.argv[2]]; sys.modules['otcore'] = pkg\n"
        "from otcore.store import Store\n"
        "assert 'torch' not in sys.modules\n"
        "st = Store(sys.argv[1]); st.ensure_project('p'); print(st.revision())\n"
    )
    pkg_dir = str(Path(otcore.__file__).resolve().parent)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, store_url, pkg_dir],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert out.strip() == "0005"
    st = Store(store_url)
    assert [p.name for p in st.list_projects()] == ["p"]
    st.close()


def test_database_from_a_newer_version_gives_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    Store(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    engine.dispose()
    with pytest.raises(StoreError, match="schema revision '9999'"):
        Store(url)


def test_switch_to_wal_retries_while_another_process_holds_the_lock() -> None:
    """SQLite answers the WAL switch with "database is locked" without waiting on the busy timeout
    when another connection is converting or migrating the file: the switch is retried."""
    import sqlite3

    from otcore.store.engine import enable_wal

    class Cursor:
        def __init__(self, failures: int) -> None:
            self.failures, self.calls = failures, []

        def execute(self, sql: str) -> Cursor:
            self.calls.append(sql)
            if self.failures:
                self.failures -= 1
                raise sqlite3.OperationalError("database is locked")
            self.mode = "wal" if sql.endswith("=WAL") else getattr(self, "mode", "delete")
            return self

        def fetchone(self) -> tuple[str]:
            return (self.mode,)

    cur = Cursor(failures=3)
    enable_wal(cur)
    assert cur.calls[-1] == "PRAGMA journal_mode=WAL" and len(cur.calls) == 5
    already = Cursor(failures=0)
    already.mode = "wal"
    enable_wal(already)
    assert already.calls == ["PRAGMA journal_mode"]  # no exclusive lock needed when already WAL

    class Broken(Cursor):
        def execute(self, sql: str) -> Cursor:
            raise sqlite3.OperationalError("disk I/O error")

    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        enable_wal(Broken(0))
