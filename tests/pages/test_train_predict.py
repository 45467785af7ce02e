"""Train page: a prediction run held by ``otstudio predict`` (here or on Ray) shows its progress and
can be cancelled, like any worker job."""

from __future__ import annotations

import os
from pathlib import Path

from streamlit.testing.v1 import AppTest

from otcore.jobs import queue
from otcore.settings import load_settings
from otcore.store import Store
from otcore.store.jobrows import ClaimedBy

REPO = Path(__file__).resolve().parents[2]


def test_a_running_prediction_shows_progress_and_cancels(data_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("OTSTUDIO_NO_WORKER", "1")
    store = Store.from_settings(load_settings(data_dir))
    p = store.create_project("P")
    store.add_video(p.id, "a.mp4", "videos/a.mp4", "a" * 64, 20.0, 25.0, 500, 32, 24)
    job_id = queue.submit(store, "predict_fewshot", {"model_path": "models/m.pt", "project_id": p.id}, p.id)
    # held as the bulk command holds it: claimed by the driver, progress written per finished video
    assert store.jobs.claim(job_id, ClaimedBy(worker_id="bulk:test", pid=os.getpid(), host=queue.hostname()))
    assert queue.heartbeat(store, job_id, "bulk:test", progress=0.5, message="predicted 2/4 videos")
    at = AppTest.from_file(str(REPO / "pages" / "train.py"), default_timeout=60)
    at.session_state["project_id"] = p.id
    at.run()
    assert not at.exception, at.exception
    assert any(c.value == f"Prediction job {job_id}: running — predicted 2/4 videos" for c in at.caption)
    assert any(b.proto.value == 50 and b.proto.text == "predicted 2/4 videos" for b in at.get("progress"))
    at.button(key="predict_cancel").click().run()
    assert not at.exception, at.exception
    assert queue.is_cancel_requested(store, job_id)
    # the driver stops and marks the row; the page then shows the outcome without a Cancel button
    queue.mark_cancelled(
        store, job_id, "cancelled after 2/4 videos (those keep their proposals)", "bulk:test"
    )
    at.run()
    assert any("cancelled after 2/4 videos" in c.value for c in at.caption)
    assert not [b for b in at.button if b.key == "predict_cancel"]
    store.close()
