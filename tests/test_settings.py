"""Settings: every variable read in one place, checked with a one-line message, handed to the worker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from otcore.settings import Settings, SettingsError, load_settings

REPO = Path(__file__).resolve().parents[1]


def test_defaults_and_values(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={})
    assert s.data_dir == tmp_path and s.database_url.endswith("otstudio.db")
    assert (s.max_upload_mb, s.device, s.train_threads, s.quantize, s.no_worker) == (
        2048,
        None,
        None,
        None,
        False,
    )
    s = load_settings(
        tmp_path,
        env={
            "OTSTUDIO_MAX_UPLOAD_MB": "10",
            "OTSTUDIO_DEVICE": "CUDA:1",
            "OTSTUDIO_TRAIN_THREADS": "2",
            "OTSTUDIO_JOB_STALE_SECONDS": "7.5",
            "OTSTUDIO_NO_WORKER": "yes",
            "OTSTUDIO_QUANTIZE": "int8",
        },
    )
    assert (s.max_upload_mb, s.device, s.train_threads, s.job_stale_seconds) == (10, "cuda:1", 2, 7.5)
    assert s.no_worker and s.quantize == "int8"
    assert load_settings(tmp_path, env={"OTSTUDIO_QUANTIZE": "none"}).quantize is None


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("OTSTUDIO_MAX_UPLOAD_MB", "abc", "not a whole number"),
        ("OTSTUDIO_MAX_UPLOAD_MB", "0", "out of range"),
        ("OTSTUDIO_TRAIN_THREADS", "-1", "out of range"),
        ("OTSTUDIO_JOB_STALE_SECONDS", "soon", "not a number"),
        ("OTSTUDIO_JOB_STALE_SECONDS", "-3", "positive"),
        ("OTSTUDIO_DEVICE", "gpu0", "not a device"),
        ("OTSTUDIO_NO_WORKER", "maybe", "yes/no"),
        ("OTSTUDIO_QUANTIZE", "int4", "none, int8"),
    ],
)
def test_bad_values_give_one_line(tmp_path: Path, name: str, value: str, words: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(tmp_path, env={name: value})
    message = str(info.value)
    assert "\n" not in message and name in message and repr(value) in message and words in message


def test_worker_gets_the_same_settings(tmp_path: Path) -> None:
    s = Settings(
        data_dir=tmp_path, database_url="sqlite:///x.db", device="cpu", train_threads=3, quantize="int8"
    )
    env = s.worker_environment(pythonpath="/somewhere")
    assert env["PYTHONPATH"].split(":")[0] == "/somewhere"
    assert load_settings(env=env) == s


def test_cli_reports_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "OTSTUDIO_DATA_DIR": str(tmp_path), "OTSTUDIO_MAX_UPLOAD_MB": "abc"}
    out = subprocess.run(
        [sys.executable, "-m", "otcore", "demo"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert (
        out.stderr.strip()
        == "otstudio: OTSTUDIO_MAX_UPLOAD_MB='abc' is not a whole number (allowed: 1..1048576)"
    )
    assert not (tmp_path / "otstudio.db").exists()  # nothing stored
