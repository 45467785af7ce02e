"""Train page through Streamlit's AppTest: defaults from the marks, submit, progress, history, cancel."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from otcore.jobs import queue
from otcore.settings import load_settings
from otcore.store import EditLog, Store

REPO = Path(__file__).resolve().parents[2]


def _seed(data_dir: Path):
    store = Store.from_settings(load_settings(data_dir))
    p = store.create_project("P")
    a = store.add_video(p.id, "a.mp4", "videos/a.mp4", "a" * 64, 20.0, 25.0, 500, 32, 24)
    b = store.add_video(p.id, "b.mp4", "videos/b.mp4", "b" * 64, 20.0, 25.0, 500, 32, 24)
    store.ensure_label(p.id, "unused")
    log = EditLog(store)
    log.add_segment(a.id, "jump", 1.0, 3.0)
    log.add_segment(a.id, "swing", 5.0, 7.0)
    log.add_segment(b.id, "jump", 2.0, 4.0)
    return store, p, a, b


def _app(project_id: int) -> AppTest:
    at = AppTest.from_file(str(REPO / "pages" / "train.py"), default_timeout=60)
    at.session_state["project_id"] = project_id
    return at.run()


def test_defaults_submit_and_cancel(data_dir: Path, monkeypatch):
    monkeypatch.setenv("OTSTUDIO_NO_WORKER", "1")
    store, p, a, b = _seed(data_dir)
    at = _app(p.id)
    assert not at.exception, at.exception
    assert at.title[0].value == "Train"
    assert at.multiselect(key="train_labels").value == ["jump", "swing"]  # labels with marks, not "unused"
    assert sorted(at.multiselect(key="train_videos").value) == sorted([a.id, b.id])
    assert at.radio(key="train_method").value == "plot-tal"
    at.radio(key="train_method").set_value("coop")
    at.multiselect(key="train_labels").set_value(["jump"])
    at.run()
    at.button(key="train_submit").click().run()
    assert not at.exception, at.exception
    jobs = queue.list_jobs(store, project_id=p.id, kind="train_fewshot")
    assert len(jobs) == 1
    params = jobs[0].params
    assert params["method"] == "coop" and params["labels"] == ["jump"] and params["project_id"] == p.id
    assert at.button(key="train_submit").disabled  # one training at a time
    assert "Job" in at.subheader[0].value and "queued" in at.subheader[0].value
    assert list(at.dataframe[-1].value["job"]) == [jobs[0].id]
    at.button(key="train_cancel").click().run()
    assert queue.get_job(store, jobs[0].id).status == "cancelled"


def test_no_marks_says_so(data_dir: Path, monkeypatch):
    monkeypatch.setenv("OTSTUDIO_NO_WORKER", "1")
    store = Store.from_settings(load_settings(data_dir))
    p = store.create_project("empty")
    at = _app(p.id)
    assert not at.exception
    assert any("No marked segments" in i.value for i in at.info)
    assert at.button(key="train_submit").disabled


def test_the_train_button_and_history_follow_a_job_that_ends(data_dir: Path, monkeypatch):
    monkeypatch.setenv("OTSTUDIO_NO_WORKER", "1")
    store, p, a, b = _seed(data_dir)
    at = _app(p.id)
    at.button(key="train_submit").click().run()
    assert at.button(key="train_submit").disabled
    (job,) = queue.list_jobs(store, project_id=p.id, kind="train_fewshot")
    claimed = queue.claim_next(store, "w-test", kinds=["train_fewshot"])
    assert claimed is not None and claimed.id == job.id
    queue.fail(store, job.id, "w-test", "stopped by the test")
    at.run()  # what a poll of the job panel does once the job has ended
    assert not at.exception, at.exception
    assert not at.button(key="train_submit").disabled
    assert list(at.dataframe[-1].value["status"]) == ["failed"]
