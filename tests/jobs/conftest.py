"""Job fixtures: a store on SQLite, and on PostgreSQL when ``OTSTUDIO_TEST_POSTGRES_URL`` is set.

As in ``tests/store``: one fresh PostgreSQL database per session (dropped afterwards), tables
emptied between tests; without the variable the PostgreSQL half is skipped with that reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
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


def _add_video_with_features(store: Store, settings: Settings, project_id: int, name: str, feats: np.ndarray):
    """A video row (no media file) whose linked features artifact holds ``feats`` at 2 fps."""
    fps = 2.0
    video = store.add_video(
        project_id,
        name,
        f"videos/{name}",
        name.encode().hex().ljust(64, "0")[:64],
        feats.shape[0] / fps,
        25.0,
        int(feats.shape[0] / fps * 25),
        32,
        24,
    )
    path = settings.features_dir / f"{name}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, features=feats, fps=np.float64(fps))
    art = store.add_artifact(
        "features", f"key-{name}", str(path.relative_to(settings.data_dir)), {"model_id": "test", "fps": fps}
    )
    store.set_video_features(video.id, art.id)
    return video


@pytest.fixture()
def video_with_features() -> Callable[..., object]:
    """``video_with_features(store, settings, project_id, name, feats)`` → the stored video."""
    return _add_video_with_features
