"""Store fixtures: every store test runs on SQLite and on PostgreSQL.

PostgreSQL runs when ``OTSTUDIO_TEST_POSTGRES_URL`` points at a server whose role may
create databases (``scripts/test-services.sh`` writes it to ``.test-env``): one fresh,
uniquely named database per test session, dropped at the end; tables are emptied between
tests. Without the variable the PostgreSQL half is skipped with that reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from otcore.store import Store
from otcore.store.models import Base

NO_PG = (
    "no PostgreSQL server was available: set OTSTUDIO_TEST_POSTGRES_URL "
    "(scripts/test-services.sh writes it to .test-env) to run the store tests against PostgreSQL"
)


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this session (dropped afterwards)."""
    base = os.environ.get("OTSTUDIO_TEST_POSTGRES_URL")
    if not base:
        pytest.skip(NO_PG)
    name = f"otstudio_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - server down or no CREATEDB: say so
        admin.dispose()
        pytest.skip(
            f"PostgreSQL at OTSTUDIO_TEST_POSTGRES_URL is not usable ({exc.__class__.__name__}: {exc})"
        )
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def clear_tables(store: Store) -> None:
    """Delete every row (children first) so each test starts empty."""
    with store.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for one test: a fresh SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{(tmp_path / 'otstudio.db').as_posix()}"
    url = request.getfixturevalue("pg_database_url")
    st = Store(url, data_dir=tmp_path)
    clear_tables(st)
    st.close()
    return url


@pytest.fixture()
def open_store(store_url: str, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Factory of Store instances on the test's database (as a new process would open it)."""
    opened: list[Store] = []

    def factory() -> Store:
        st = Store(store_url, data_dir=tmp_path)
        opened.append(st)
        return st

    yield factory
    for st in opened:
        st.close()


@pytest.fixture()
def store(open_store: Callable[[], Store]) -> Store:
    """An open, migrated store on SQLite or PostgreSQL."""
    return open_store()
