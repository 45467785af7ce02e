"""The unknown-action verbs: spans from the stored scores, and "new label from span" (good and bad)."""

from __future__ import annotations

from pathlib import Path

import pytest

from otcore import service
from otcore.settings import load_settings
from otcore.store import EditLog
from tests.unknown_scores import two_videos_scores, write_scores


@pytest.fixture()
def env(data_dir: Path):
    settings = load_settings(data_dir)
    store = service.open_store(settings)
    project = store.create_project("p")
    v1 = store.add_video(project.id, "a.mp4", "videos/a.mp4", "a" * 64, 10.0, 25.0, 250, 8, 8)
    v2 = store.add_video(project.id, "b.mp4", "videos/b.mp4", "b" * 64, 10.0, 25.0, 250, 8, 8)
    store.ensure_label(project.id, "jump")
    store.ensure_label(project.id, "run")
    EditLog(store).add_segment(v1.id, "jump", 0.0, 1.0)
    yield settings, store, project, v1, v2
    store.close()


def test_spans_threshold_and_order(env):
    settings, store, project, v1, v2 = env
    assert service.latest_unknown(store, project.id) is None
    assert service.strongest_unknown_spans(store, project.id) == []
    u1, u2 = two_videos_scores()
    aid = write_scores(store, settings, project.id, {v1.id: u1, v2.id: u2}, threshold=0.5)
    scores = service.latest_unknown(store, project.id)
    assert scores is not None and scores.artifact_id == aid and scores.threshold == 0.5
    spans = service.strongest_unknown_spans(store, project.id)
    assert [(s.video_name, s.start, s.end) for s in spans] == [
        ("b.mp4", 5.0, 6.5),
        ("a.mp4", 3.0, 5.0),
        ("b.mp4", 8.0, 9.0),
    ]
    assert spans[0].score == pytest.approx(0.95)
    # a higher threshold (chosen by a person) keeps the strongest only
    assert len(service.strongest_unknown_spans(store, project.id, threshold=0.8)) == 1
    assert [(s.start, s.end) for s in service.video_unknown_spans(store, project.id, v1.id)] == [(3.0, 5.0)]
    # another project never sees these scores
    other = store.create_project("q")
    assert service.latest_unknown(store, other.id) is None


def test_new_label_from_span_marks_it_and_undo_removes_the_mark(env):
    settings, store, project, v1, v2 = env
    u1, u2 = two_videos_scores()
    write_scores(store, settings, project.id, {v1.id: u1, v2.id: u2}, threshold=0.5)
    span = service.strongest_unknown_spans(store, project.id)[0]
    made = service.new_label_from_span(store, project.id, span.video_id, span.start, span.end, "  spin ")
    assert made.label == "spin" and made.start == 5.0
    assert made.end == pytest.approx(6.5, abs=0.021)  # snapped to a frame of the 25 fps grid
    assert [x.name for x in store.list_labels(project.id)] == ["jump", "run", "spin"]
    log = EditLog(store)
    seg = log.get_segment(made.segment_id)
    assert (seg.label, seg.source, seg.video_id) == ("spin", "manual", v2.id)
    assert log.history(v2.id, limit=1)[0].op == "add"
    # the span is marked now: it leaves the list
    assert [(s.start, s.end) for s in service.strongest_unknown_spans(store, project.id)] == [
        (3.0, 5.0),
        (8.0, 9.0),
    ]
    assert log.undo(v2.id) is not None
    assert log.segments(v2.id) == []
    assert len(service.strongest_unknown_spans(store, project.id)) == 3


def _state(store, project_id: int, video_ids) -> tuple:
    log = EditLog(store)
    return (
        [(x.name, x.color) for x in store.list_labels(project_id, include_deleted=True)],
        [[(s.label, s.start, s.end, s.source) for s in log.segments(v)] for v in video_ids],
        [len(log.history(v, limit=100)) for v in video_ids],
    )


def test_new_label_from_span_bad_input_changes_nothing(env):
    settings, store, project, v1, v2 = env
    before = _state(store, project.id, (v1.id, v2.id))
    with pytest.raises(service.UnknownActionError, match="type a name"):
        service.new_label_from_span(store, project.id, v2.id, 5.0, 6.5, "")
    # no trained model yet
    with pytest.raises(service.UnknownActionError, match="train a few-shot model"):
        service.new_label_from_span(store, project.id, v2.id, 5.0, 6.5, "spin")
    assert _state(store, project.id, (v1.id, v2.id)) == before
    u1, u2 = two_videos_scores()
    write_scores(store, settings, project.id, {v1.id: u1, v2.id: u2}, threshold=0.5)
    before = _state(store, project.id, (v1.id, v2.id))
    cases = [
        ((v2.id, 5.0, 6.5, "   "), "type a name"),
        ((v2.id, 5.0, 6.5, "Jump"), "label named 'jump' already"),
        ((v2.id, 9.0, 12.0, "spin"), "outside b.mp4"),
        ((v2.id, -1.0, 2.0, "spin"), "outside b.mp4"),
        ((v2.id, 6.0, 6.0, "spin"), "outside b.mp4"),
        ((v2.id, 5.0, 5.01, "spin"), "."),  # shorter than a frame: the edit log's own message
        ((9999, 5.0, 6.5, "spin"), "not in this project"),
    ]
    for args, msg in cases:
        with pytest.raises(service.UnknownActionError, match=msg):
            service.new_label_from_span(store, project.id, *args)
    assert _state(store, project.id, (v1.id, v2.id)) == before
    store.set_label_deleted(store.list_labels(project.id)[1].id, True)  # "run" deleted
    before = _state(store, project.id, (v1.id, v2.id))
    with pytest.raises(service.UnknownActionError, match="deleted label is named 'run'"):
        service.new_label_from_span(store, project.id, v2.id, 5.0, 6.5, "RUN")
    assert _state(store, project.id, (v1.id, v2.id)) == before


def test_submit_unknown_queues_the_job(env):
    settings, store, project, v1, v2 = env
    from otcore.jobs.queue import get_job

    jid = service.submit_unknown(store, service.UnknownRequest(quantile=0.9), project_id=project.id)
    job = get_job(store, jid)
    assert job.kind == "score_unknown" and job.project_id == project.id and job.params == {"quantile": 0.9}
