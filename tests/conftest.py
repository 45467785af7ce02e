"""Shared fixtures."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

# Property tests draw the same examples on every run: CI is reproducible, and a failure found
# once is found again.
hypothesis_settings.register_profile("otstudio", derandomize=True, deadline=None)
hypothesis_settings.load_profile("otstudio")

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The read-only real data beside the repository (``../shared/data``)."""
    return Path(os.environ.get("OTSTUDIO_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")).resolve()


@pytest.fixture()
def one_thread() -> Iterator[None]:
    """One intra-op torch thread for the test (small tensors: more threads only oversubscribe the
    shared CPU); the previous count is restored afterwards. Use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def in_ci() -> bool:
    """True under continuous integration (``CI`` set to a true value, as CI services do)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes", "on")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder. Missing, the tests that need it are skipped on a developer's
    machine, but in CI (``CI=true``) the run fails: there it must be present."""
    path = shared_data_dir()
    if not path.is_dir():
        message = f"real data folder not found at {path} (set OTSTUDIO_SHARED_DATA)"
        if in_ci():
            pytest.fail(f"{message}; in CI the real data must be present", pytrace=False)
        pytest.skip(message)
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Markers follow the fixtures a test uses, so they are never forgotten: ``browser`` for
    tests driving Chromium (the ``page`` fixture), ``postgres`` for tests on the PostgreSQL
    server (``pg_url``), and ``browser`` tests are ``slow``."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if "page" in names and item.get_closest_marker("browser") is None:
            item.add_marker(pytest.mark.browser)
        if names & {"pg_url", "pg_database_url"} and item.get_closest_marker("postgres") is None:
            item.add_marker(pytest.mark.postgres)
        if item.get_closest_marker("browser") is not None and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh otstudio data dir, also exported as OTSTUDIO_DATA_DIR."""
    root = tmp_path / "otstudio-data"
    root.mkdir()
    monkeypatch.setenv("OTSTUDIO_DATA_DIR", str(root))
    monkeypatch.delenv("OTSTUDIO_DATABASE_URL", raising=False)
    return root


NO_PG = (
    "no PostgreSQL server was available: set OTSTUDIO_TEST_POSTGRES_URL "
    "(scripts/test-services.sh writes it to .test-env) to run the store and job tests against PostgreSQL"
)


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this session (dropped afterwards).

    Runs when ``OTSTUDIO_TEST_POSTGRES_URL`` points at a server whose role may create
    databases; otherwise the tests that need it are skipped with that reason.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

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


@pytest.fixture()
def pg_url(pg_database_url: str, tmp_path: Path) -> str:
    """The session's PostgreSQL database, migrated and emptied (children first) for this test."""
    from otcore.store import Store
    from otcore.store.models import Base

    st = Store(pg_database_url, data_dir=tmp_path)
    with st.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    st.close()
    return pg_database_url
