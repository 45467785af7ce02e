"""The store's engine and migrations: one SQLAlchemy engine per URL (SQLite in WAL mode with a
busy timeout, PostgreSQL as is) and the Alembic upgrade to head, serialised between processes
(``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL)."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session

__all__ = [
    "MIGRATIONS_DIR",
    "PG_MIGRATION_LOCK",
    "SQLITE_BUSY_MS",
    "enable_wal",
    "make_engine",
    "upgrade_database",
    "current_revision",
    "head_revision",
    "known_revision",
    "SessionOwner",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
PG_MIGRATION_LOCK = 7_357_001  # arbitrary constant key of the advisory lock around migrations
SQLITE_BUSY_MS = 30_000


def enable_wal(cur: Any) -> None:
    """Switch a SQLite database to WAL. The switch needs an exclusive lock and SQLite does not wait on
    the busy timeout for it, so two processes opening a new database together see "database is
    locked": retry until the busy timeout has passed, and skip when the file is already in WAL."""
    import sqlite3

    deadline = time.monotonic() + SQLITE_BUSY_MS / 1000
    while True:
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                return
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def make_engine(url: str) -> Engine:
    """The engine for ``url``: SQLite with WAL, foreign keys and a busy timeout; others as given."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:" and not u.database.startswith("file:"):
            Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_MS / 1000, "check_same_thread": False}
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's implicit BEGIN is lazy
            # and deferred, which turns read->write upgrades into immediate "database is locked").
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
            enable_wal(cur)
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    return create_engine(url, pool_pre_ping=True)


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations on ``engine`` up to ``revision``, holding a lock so that
    two processes opening the same database at once do not both create the schema."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    backend = engine.dialect.name
    eng = engine.execution_options(sqlite_begin="IMMEDIATE") if backend == "sqlite" else engine
    with eng.begin() as conn:
        if backend == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None when unversioned)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """The newest Alembic revision of this version of otstudio."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(cfg).get_current_head()


def known_revision(rev: str) -> bool:
    """Whether ``rev`` is one of this version's migrations."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        return ScriptDirectory.from_config(cfg).get_revision(rev) is not None
    except CommandError:
        return False


class SessionOwner:
    """What a half of the repository needs of :class:`~otcore.store.Store`: its sessions."""

    def read(self) -> AbstractContextManager[Session]:
        """A session for reading (the store's)."""
        raise NotImplementedError

    def write(self) -> AbstractContextManager[Session]:
        """A session committed at the end of the block (the store's)."""
        raise NotImplementedError
