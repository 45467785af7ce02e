"""train_fewshot / predict_fewshot jobs against a real store on SQLite."""

from __future__ import annotations

import time

import numpy as np
import pytest

from otcore.jobs import queue
from otcore.jobs.context import JobCancelled, JobContext
from otcore.jobs.worker import execute
from otcore.service import load_prediction
from otcore.settings import Settings
from otcore.store import EditLog, Store
from tests.jobs.fewshot_data import LAYOUT_A, LAYOUT_B
from tests.jobs.fewshot_data import features as _features

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def project(settings: Settings, video_with_features):
    store = Store.from_settings(settings)
    p = store.create_project("P")
    a = video_with_features(
        store,
        settings,
        p.id,
        "a.mp4",
        _features(0, LAYOUT_A),
    )
    b = video_with_features(
        store,
        settings,
        p.id,
        "b.mp4",
        _features(1, LAYOUT_B),
    )
    log = EditLog(store)
    log.add_segment(a.id, "jump", 3.0, 5.0)
    log.add_segment(a.id, "swing", 8.0, 11.0)
    yield store, p, a, b
    store.close()


@pytest.mark.slow
def test_train_writes_model_predictions_and_plans(settings: Settings, project):
    store, p, a, b = project
    manual_before = EditLog(store).segments(a.id, sources=("manual",))
    jid = queue.submit(
        store, "train_fewshot", {"method": "plot-tal", "epochs": 8, "levels": 2}, project_id=p.id
    )
    assert queue.claim_next(store, "w1").id == jid
    ctx = JobContext(store, settings, jid, worker_id="w1")
    result = execute(ctx, "train_fewshot", dict(queue.get_job(store, jid).params))
    ctx.flush()
    assert result["labels"] == ["jump", "swing"]
    assert result["n_train_videos"] == 1 and result["n_segments"] == 2
    assert len(result["history"]) == 8 and result["history"][-1]["epoch"] == 8
    assert (settings.data_dir / result["model_path"]).is_file()
    assert store.get_artifact(result["artifact_id"]).kind == "fewshot_model"
    log = EditLog(store)
    for v in (a, b):
        info = result["predictions"][str(v.id)]
        preds = log.segments(v.id, sources=("predicted",))
        assert info["n_segments"] == len(preds) > 0
        assert all(s.score is not None and s.method == "plot-tal" for s in preds)
        plans = load_prediction(settings, settings.data_dir / info["plans_path"])
        assert list(plans.class_names) == ["jump", "swing"] and plans.meta["levels"] == 2
        assert set(plans.plans) == {f"level{l}/{c}" for l in range(2) for c in ("jump", "swing")}
    assert log.segments(a.id, sources=("manual",)) == manual_before  # marks untouched
    job = queue.get_job(store, jid)
    assert job.progress == 1.0 and job.message.startswith("done")

    # predict job with the saved model replaces the predictions, still never the marks
    jid2 = queue.submit(
        store, "predict_fewshot", {"model_path": result["model_path"], "video_ids": [b.id]}, project_id=p.id
    )
    out = execute(
        JobContext(store, settings, jid2), "predict_fewshot", dict(queue.get_job(store, jid2).params)
    )
    assert list(out["predictions"]) == [str(b.id)]
    assert len(log.segments(b.id, sources=("predicted",))) == out["predictions"][str(b.id)]["n_segments"]
    assert log.segments(a.id, sources=("manual",)) == manual_before


def test_train_cancel_and_no_marks(settings: Settings, project):
    store, p, a, b = project
    jid = queue.submit(store, "train_fewshot", {"method": "prototype", "epochs": 50}, project_id=p.id)
    queue.claim_next(store, "w1")
    queue.request_cancel(store, jid)
    with pytest.raises(JobCancelled):
        execute(
            JobContext(store, settings, jid, worker_id="w1"),
            "train_fewshot",
            {"method": "prototype", "epochs": 50},
        )
    assert EditLog(store).segments(b.id, sources=("predicted",)) == []
    jid2 = queue.submit(store, "train_fewshot", {"labels": ["nothing"]}, project_id=p.id)
    with pytest.raises(ValueError, match="no video"):
        execute(JobContext(store, settings, jid2), "train_fewshot", {"labels": ["nothing"]})


INSPECT_SCRIPT = """
from otcore.settings import load_settings
from otcore.store import Store
from ui import inspect_fewshot

settings = load_settings()
store = Store.from_settings(settings)
project = store.get_project("P")
video = store.list_videos(project.id)[1]
inspect_fewshot.render(store, settings, project, video)
"""


def test_inspect_view_draws_the_plans(settings: Settings, project):
    from streamlit.testing.v1 import AppTest

    store, p, a, b = project
    at = AppTest.from_string(INSPECT_SCRIPT, default_timeout=60).run()
    assert not at.exception, at.exception
    assert "No few-shot model" in at.info[0].value
    jid = queue.submit(store, "train_fewshot", {"epochs": 5, "levels": 2}, project_id=p.id)
    queue.claim_next(store, "w")
    result = execute(
        JobContext(store, settings, jid, worker_id="w"), "train_fewshot", {"epochs": 5, "levels": 2}
    )
    assert queue.finish(store, jid, result=result, worker_id="w")
    at = AppTest.from_string(INSPECT_SCRIPT, default_timeout=60).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="inspect_fewshot_class").options == ["jump", "swing"]
    assert len(at.get("plotly_chart")) == 1
    assert any(m.value == "prompt 0" for m in at.markdown)


def test_select_proposals_keeps_confident_ones_per_label_in_time_order():
    from otcore.jobs.fewshot import select_proposals
    from otcore.types import Segment

    segs = [
        Segment("a", 5.0, 6.0, 0.9),
        Segment("a", 1.0, 2.0, 0.01),
        Segment("a", 3.0, 4.0, 0.5),
        Segment("a", 7.0, 8.0, 0.6),
        Segment("b", 0.0, 1.0, 0.2),
    ]
    got = select_proposals(segs, min_score=0.05, max_per_label=2)
    assert [(s.label, s.start) for s in got] == [("b", 0.0), ("a", 5.0), ("a", 7.0)]


def test_select_proposals_suppresses_overlaps_and_marked_time():
    from otcore.jobs.fewshot import select_proposals
    from otcore.types import Segment

    segs = [
        Segment("a", 0.0, 4.0, 0.9),
        Segment("a", 0.5, 4.0, 0.8),  # tIoU 0.875 with the better one: suppressed
        Segment("b", 0.5, 4.0, 0.7),  # another label: kept
        Segment("a", 10.0, 12.0, 0.6),  # over marked time: dropped
        Segment("a", 13.0, 16.0, 0.5),  # a third over marked time: kept
    ]
    marked = [Segment("c", 9.5, 12.5), Segment("c", 15.0, 20.0)]
    got = select_proposals(segs, 0.05, 10, nms_iou=0.5, marked=marked)
    assert [(s.label, s.start) for s in got] == [("a", 0.0), ("b", 0.5), ("a", 13.0)]


def _run(store: Store, settings: Settings, pid: int, params: dict):
    jid = queue.submit(store, "train_fewshot", params, project_id=pid)
    return execute(JobContext(store, settings, jid), "train_fewshot", params)


def _stored_state(store: Store, videos) -> tuple:
    log = EditLog(store)
    return (
        tuple(tuple(log.segments(v.id)) for v in videos),
        tuple(a.id for a in store.list_artifacts("fewshot_model")),
    )


def test_bad_training_input_is_one_clear_message_and_changes_nothing(settings: Settings, video_with_features):
    store = Store.from_settings(settings)
    p = store.create_project("Bad")
    a = video_with_features(
        store, settings, p.id, "x.mp4", _features(0, [(None, 6), ("jump", 4), (None, 10)])
    )
    before = _stored_state(store, [a])
    with pytest.raises(ValueError, match="no marked segments in this project"):
        _run(store, settings, p.id, {"method": "prototype", "epochs": 2})
    # marks only on a video without features
    nofeat = store.add_video(p.id, "n.mp4", "videos/n.mp4", "f" * 64, 10.0, 25.0, 250, 32, 24)
    EditLog(store).add_segment(nofeat.id, "jump", 1.0, 3.0)
    before = _stored_state(store, [a, nofeat])
    with pytest.raises(ValueError, match="have no features yet"):
        _run(store, settings, p.id, {"method": "prototype", "epochs": 2})
    assert _stored_state(store, [a, nofeat]) == before
    store.close()


def test_two_encoders_refused_single_label_trains(settings: Settings, video_with_features):
    store = Store.from_settings(settings)
    p = store.create_project("Mixed")
    a = video_with_features(
        store, settings, p.id, "a.mp4", _features(0, [(None, 6), ("jump", 4), (None, 10)])
    )
    b = video_with_features(
        store, settings, p.id, "b.mp4", _features(1, [(None, 4), ("jump", 6), (None, 10)])
    )
    log = EditLog(store)
    log.add_segment(a.id, "jump", 3.0, 5.0)
    # single label: a detector of one action against the background
    out = _run(store, settings, p.id, {"method": "plot-tal", "epochs": 3, "levels": 2})
    assert out["labels"] == ["jump"] and out["text_tower"] == "otstudio-tiny:random-seed0"
    assert out["names_meaningful"] is False
    # b's features now come from another (CLIP) encoder than a's
    path = settings.features_dir / "b2.npz"
    np.savez(path, features=_features(1, [(None, 20)]), fps=np.float64(2.0))
    art = store.add_artifact(
        "features",
        "key-b2",
        str(path.relative_to(settings.data_dir)),
        {"model_id": "ViT-B-32-quickgelu/openai", "weights_id": "c" * 64, "fps": 2.0},
    )
    store.set_video_features(b.id, art.id)
    log.add_segment(b.id, "jump", 2.0, 5.0)
    before = _stored_state(store, [a, b])
    with pytest.raises(ValueError, match="different encoders"):
        _run(store, settings, p.id, {"method": "plot-tal", "epochs": 3})
    assert _stored_state(store, [a, b]) == before
    store.close()


def test_cancel_during_prediction_keeps_the_previous_proposals(settings: Settings, project, monkeypatch):
    from otcore.jobs import fewshot

    store, p, a, b = project
    _run(store, settings, p.id, {"method": "plot-tal", "epochs": 8, "levels": 2})
    before = _stored_state(store, [a, b])
    assert before[0][1]  # b holds proposals of the first model

    real = fewshot._infer_videos

    def infer_then_cancel(ctx, *args, **kwargs):
        out = real(ctx, *args, **kwargs)
        queue.request_cancel(store, ctx.job_id)
        time.sleep(0.25)  # the context reads the cancel flag at most every 0.2 s
        return out

    monkeypatch.setattr(fewshot, "_infer_videos", infer_then_cancel)
    jid = queue.submit(
        store, "train_fewshot", {"method": "plot-tal", "epochs": 8, "levels": 2}, project_id=p.id
    )
    queue.claim_next(store, "w1")
    with pytest.raises(JobCancelled):
        execute(
            JobContext(store, settings, jid, worker_id="w1"),
            "train_fewshot",
            {"method": "plot-tal", "epochs": 8, "levels": 2},
        )
    assert _stored_state(store, [a, b]) == before
