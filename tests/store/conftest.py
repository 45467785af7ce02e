"""Store fixtures: every store test runs on SQLite and on PostgreSQL.

PostgreSQL runs when ``OTSTUDIO_TEST_POSTGRES_URL`` points at a server whose role may
create databases (``scripts/test-services.sh`` writes it to ``.test-env``): one fresh,
uniquely named database per test session, dropped at the end; tables are emptied between
tests. Without the variable the PostgreSQL half is skipped with that reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from otcore.store import Store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for one test: a fresh SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{(tmp_path / 'otstudio.db').as_posix()}"
    return request.getfixturevalue("pg_url")


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
