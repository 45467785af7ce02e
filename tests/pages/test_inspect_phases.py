"""Inspect page, phases: VASOT is offered once the project has two or more videos with features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from otcore.jobs import queue
from otcore.jobs.worker import run_worker
from otcore.settings import Settings, load_settings
from otcore.store import Store

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("one_thread")


def _features(seed: int, lens: list[int], d: int = 16) -> np.ndarray:
    means = np.random.default_rng(100).normal(size=(len(lens), d)) * 3
    y = np.concatenate([np.full(n, i) for i, n in enumerate(lens)])
    return (means[y] + np.random.default_rng(seed).normal(size=(len(y), d))).astype(np.float32)


def _add_features(store: Store, settings: Settings, video_id: int, name: str, feats: np.ndarray) -> None:
    path = settings.features_dir / f"{name}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, features=feats, fps=np.float64(2.0))
    rel = str(path.relative_to(settings.data_dir))
    art = store.add_artifact("features", f"key-{name}", rel, {"model_id": "test", "fps": 2.0})
    store.set_video_features(video_id, art.id)


def _app(project_id: int) -> AppTest:
    at = AppTest.from_file(str(REPO / "pages" / "inspect.py"), default_timeout=120)
    at.session_state["project_id"] = project_id
    return at.run()


def _options(at: AppTest, video_id: int) -> list[str]:
    return list(at.selectbox(key=f"phases_method_{video_id}").options)


def test_vasot_appears_with_two_videos_with_features_and_runs_on_both(data_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("OTSTUDIO_NO_WORKER", "1")
    settings = load_settings(data_dir)
    store = Store.from_settings(settings)
    p = store.create_project("P")
    a = store.add_video(p.id, "a.mp4", "videos/a.mp4", "a" * 64, 35.0, 25.0, 875, 32, 24)
    b = store.add_video(p.id, "b.mp4", "videos/b.mp4", "b" * 64, 37.5, 25.0, 937, 32, 24)
    _add_features(store, settings, a.id, "a", _features(0, [20, 30, 20]))

    at = _app(p.id)
    assert not at.exception, at.exception
    assert _options(at, a.id) == ["ASOT (this video)", "CLOT (this video)"]
    assert any("needs two or more videos with features" in c.value for c in at.caption)

    _add_features(store, settings, b.id, "b", _features(1, [30, 20, 25]))
    at = _app(p.id)
    assert not at.exception, at.exception
    assert _options(at, a.id)[-1].startswith("VASOT")
    assert not any("needs two or more videos with features" in c.value for c in at.caption)
    at.number_input(key=f"phases_k_{a.id}").set_value(3)
    at.selectbox(key=f"phases_method_{a.id}").set_value("vasot").run()
    assert any("2 videos with features together" in c.value for c in at.caption)
    at.button(key=f"phases_go_{a.id}").click().run()
    assert not at.exception, at.exception
    (job,) = queue.list_jobs(store, project_id=p.id, kind="find_phases")
    assert job.params["method"] == "vasot" and job.params["video_ids"] == [a.id, b.id]
    assert job.params["k"] == 3

    assert run_worker(settings, once=True, store=store) == 1
    assert queue.get_job(store, job.id).status == "done"
    at = _app(p.id)
    assert not at.exception, at.exception
    assert any(c.value.startswith("VASOT with K = 3") for c in at.caption)
    at.selectbox(key="inspect_video").set_value(b.id).run()  # the same job's result for the other video
    assert not at.exception, at.exception
    assert any(c.value.startswith(f"VASOT with K = 3 (job {job.id})") for c in at.caption)
    store.close()
