"""In CI a missing real-data folder fails the run instead of skipping the tests that need it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("", "1 skipped")])
def test_missing_shared_data(tmp_path: Path, ci: str, outcome: str) -> None:
    env = {**os.environ, "CI": ci, "OTSTUDIO_SHARED_DATA": str(tmp_path / "nowhere")}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/e2e/test_inspect_phases.py::test_find_phases_lane_label_and_alignment",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert outcome in out.stdout, out.stdout[-2000:]
    if ci:
        assert out.returncode != 0 and "in CI the real data must be present" in out.stdout
