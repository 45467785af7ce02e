"""Inspect → phases view through Streamlit's AppTest on a real video: find phases (job run in-process),
cluster lane + plan heatmap, turn a cluster into a label, align two videos with the matched frame."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from otcore.jobs import queue
from otcore.jobs.context import JobContext
from otcore.jobs.worker import execute
from otcore.settings import load_settings
from otcore.store import EditLog, Store

REPO = Path(__file__).resolve().parents[2]
FPS = 2.0


def _add(store, settings, project_id: int, src: Path, seed: int):
    from otcore.video.decode import probe

    dst = settings.data_dir / "videos" / src.name
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst)
    info = probe(dst)
    n = max(12, int(info.duration * FPS))
    rng = np.random.default_rng(seed)
    means = np.random.default_rng(7).normal(size=(3, 16)) * 3
    y = np.minimum(np.arange(n) * 3 // n, 2)
    feats = (means[y] + rng.normal(size=(n, 16))).astype(np.float32)
    video = store.add_video(
        project_id,
        src.name,
        f"videos/{src.name}",
        (src.name.encode().hex() * 8)[:64],
        info.duration,
        info.fps,
        info.n_frames,
        info.width,
        info.height,
    )
    fpath = settings.features_dir / f"{src.stem}.npz"
    fpath.parent.mkdir(parents=True, exist_ok=True)
    np.savez(fpath, features=feats, fps=np.float64(FPS))
    art = store.add_artifact(
        "features",
        f"key-{src.name}",
        str(fpath.relative_to(settings.data_dir)),
        {"model_id": "test", "fps": FPS},
    )
    store.set_video_features(video.id, art.id)
    return video


def _work(store, settings, kind):
    job = queue.claim_next(store, "w1", kinds=[kind])
    assert job is not None
    ctx = JobContext(store, settings, job.id, worker_id="w1")
    result = execute(ctx, kind, dict(job.params))
    ctx.flush()
    queue.finish(store, job.id, result, worker_id="w1")


@pytest.mark.slow
def test_find_phases_lane_label_and_alignment(data_dir: Path, shared_data: Path, monkeypatch):
    monkeypatch.setenv("OTSTUDIO_NO_WORKER", "1")
    settings = load_settings(data_dir)
    store = Store.from_settings(settings)
    p = store.create_project("P")
    a = _add(store, settings, p.id, shared_data / "videos" / "v_GGSY1Qvo990.mp4", 0)
    b = _add(store, settings, p.id, shared_data / "videos" / "example.avi", 1)

    at = AppTest.from_file(str(REPO / "pages" / "inspect.py"), default_timeout=120)
    at.session_state["project_id"] = p.id
    at.session_state["inspect_video"] = a.id
    at.run()
    assert not at.exception, at.exception
    assert at.number_input(key=f"phases_k_{a.id}").value == 8  # no labels yet → 8
    at.number_input(key=f"phases_k_{a.id}").set_value(3)
    at.button(key=f"phases_go_{a.id}").click().run()
    jobs = queue.list_jobs(store, project_id=p.id, kind="find_phases")
    assert len(jobs) == 1 and jobs[0].params == {"video_id": a.id, "k": 3, "method": "asot"}

    _work(store, settings, "find_phases")
    at.run()
    assert not at.exception, at.exception
    charts = [c for c in at.get("plotly_chart")]
    assert len(charts) >= 2  # cluster lane + plan heatmap
    at.selectbox(key=f"phases_label_{a.id}").set_value("(new label)").run()
    at.text_input(key=f"phases_newlabel_{a.id}").set_value("lift").run()
    at.button(key=f"phases_apply_{a.id}").click().run()
    assert not at.exception, at.exception
    preds = EditLog(store).segments(a.id, sources=("predicted",))
    assert preds and {s.label for s in preds} == {"lift"}

    at.button(key=f"align_go_{a.id}").click().run()
    _work(store, settings, "align_videos")
    at.run()
    assert not at.exception, at.exception
    assert at.slider(key=f"align_row_{a.id}_{b.id}").value == 0
    at.slider(key=f"align_row_{a.id}_{b.id}").set_value(5).run()
    assert not at.exception, at.exception
    assert any("at " in c.value for c in at.caption)
    assert not [c.value for c in at.caption if "unavailable" in c.value], [c.value for c in at.caption]
    assert len(at.get("image")) >= 1  # the frames of both videos were decoded
    store.close()
