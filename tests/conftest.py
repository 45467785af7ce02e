"""Shared fixtures."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data folder not found at {path} (set OTSTUDIO_SHARED_DATA)")
    return path


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh otstudio data dir, also exported as OTSTUDIO_DATA_DIR."""
    root = tmp_path / "otstudio-data"
    root.mkdir()
    monkeypatch.setenv("OTSTUDIO_DATA_DIR", str(root))
    monkeypatch.delenv("OTSTUDIO_DATABASE_URL", raising=False)
    return root
