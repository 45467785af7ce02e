"""Job fixtures: a store on SQLite, and on PostgreSQL when ``OTSTUDIO_TEST_POSTGRES_URL`` is set.

As in ``tests/store``: one fresh PostgreSQL database per session (dropped afterwards), tables
emptied between tests; without the variable the PostgreSQL half is skipped with that reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from otcore.settings import Settings
from otcore.store import Store
from otcore.store.models import Base

NO_PG = (
    "no PostgreSQL server was available: set OTSTUDIO_TEST_POSTGRES_URL "
    "(scripts/test-services.sh writes it to .test-env) to run the job tests against PostgreSQL"
)


@pytest.fixture(scope="session")
def jobs_pg_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for the job tests of this session."""
    base = os.environ.get("OTSTUDIO_TEST_POSTGRES_URL")
    if not base:
        pytest.skip(NO_PG)
    name = f"otstudio_jobs_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
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


@pytest.fixture()
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of a fresh data dir with a SQLite store (also exported to the environment)."""
    root = tmp_path / "data"
    root.mkdir()
    url = f"sqlite:///{(root / 'otstudio.db').as_posix()}"
    monkeypatch.setenv("OTSTUDIO_DATA_DIR", str(root))
    monkeypatch.setenv("OTSTUDIO_DATABASE_URL", url)
    return Settings(data_dir=root, database_url=url)


@pytest.fixture(params=["sqlite", "postgres"])
def any_settings(
    request: pytest.FixtureRequest, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """``settings`` on SQLite, or on the session's PostgreSQL database (emptied first)."""
    if request.param == "sqlite":
        return settings
    url = request.getfixturevalue("jobs_pg_url")
    st = Store(url, data_dir=settings.data_dir)
    with st.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    st.close()
    monkeypatch.setenv("OTSTUDIO_DATABASE_URL", url)
    return Settings(data_dir=settings.data_dir, database_url=url)


@pytest.fixture()
def open_store(any_settings: Settings) -> Iterator[Callable[[], Store]]:
    """Factory of stores on the test's database."""
    opened: list[Store] = []

    def factory() -> Store:
        st = Store.from_settings(any_settings)
        opened.append(st)
        return st

    yield factory
    for st in opened:
        st.close()


@pytest.fixture()
def store(open_store: Callable[[], Store]) -> Store:
    """An open store (SQLite or PostgreSQL)."""
    return open_store()
