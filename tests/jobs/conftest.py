"""Job fixtures: a store on SQLite, and on PostgreSQL when ``OTSTUDIO_TEST_POSTGRES_URL`` is set.

As in ``tests/store``: one fresh PostgreSQL database per session (dropped afterwards), tables
emptied between tests; without the variable the PostgreSQL half is skipped with that reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from otcore.settings import Settings
from otcore.store import Store


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
    url = request.getfixturevalue("pg_url")
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
