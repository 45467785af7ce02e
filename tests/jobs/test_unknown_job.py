"""Unknown-action scores after training (``train_fewshot``) and as their own job (``score_unknown``)."""

from __future__ import annotations

import numpy as np
import pytest

from otcore.jobs import queue
from otcore.jobs.context import JobContext
from otcore.jobs.fewshot import TrainResult
from otcore.jobs.spec import from_json
from otcore.jobs.unknown import UNKNOWN_KIND, UnknownResult
from otcore.jobs.worker import execute
from otcore.settings import Settings
from otcore.store import EditLog, Store
from otcore.store.predictions import load_prediction

pytestmark = pytest.mark.usefixtures("one_thread")

# feature blocks (16-d at 2 fps): "jump" lifts dims 0-3, "swing" 4-7, "kick" 8-11, the unlabelled "spin" 12-15
_LIFT = {"jump": slice(0, 4), "swing": slice(4, 8), "kick": slice(8, 12), "spin": slice(12, 16)}
# video a: every known action twice, 6 rows each, 4 unmarked rows before each
LAYOUT_A = [(None, 4), ("jump", 6), (None, 4), ("swing", 6), (None, 4), ("kick", 6)] * 2
# video b: jump rows 4-9, the unlabelled spin rows 10-19 ([5, 10) s), swing 20-25, kick 30-35
LAYOUT_B = [(None, 4), ("jump", 6), ("spin", 10), ("swing", 6), (None, 4), ("kick", 6), (None, 4)]


def marks_of(layout: list[tuple[str | None, int]], fps: float = 2.0) -> list[tuple[str, float, float]]:
    """The (label, start_s, end_s) of every labelled block of a layout."""
    out, t = [], 0
    for label, n in layout:
        if label is not None:
            out.append((label, t / fps, (t + n) / fps))
        t += n
    return out


def synthetic_features(seed: int, layout: list[tuple[str | None, int]]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = []
    for label, n in layout:
        x = rng.random((n, 16)).astype(np.float32) * 0.5
        if label is not None:
            x[:, _LIFT[label]] += 3
        rows.append(x)
    return np.concatenate(rows)


@pytest.fixture()
def project(settings: Settings, video_with_features):
    store = Store.from_settings(settings)
    p = store.create_project("P")
    a = video_with_features(store, settings, p.id, "a.mp4", synthetic_features(0, LAYOUT_A))
    b = video_with_features(store, settings, p.id, "b.mp4", synthetic_features(1, LAYOUT_B))
    log = EditLog(store)
    for lab, s, e in marks_of(LAYOUT_A):
        log.add_segment(a.id, lab, s, e)
    yield store, p, a, b
    store.close()


def _run(store: Store, settings: Settings, kind: str, params: dict, project_id: int) -> dict:
    jid = queue.submit(store, kind, params, project_id=project_id)
    assert queue.claim_next(store, "w1").id == jid
    ctx = JobContext(store, settings, jid, worker_id="w1")
    result = execute(ctx, kind, dict(queue.get_job(store, jid).params))
    ctx.flush()
    return result


def test_training_writes_unknown_scores_high_on_the_unlabelled_action(settings: Settings, project):
    store, p, a, b = project
    result = _run(store, settings, "train_fewshot", {"method": "prototype", "epochs": 2, "levels": 1}, p.id)
    unk = result["unknown"]
    assert from_json(TrainResult, result).unknown.threshold == pytest.approx(unk["threshold"])
    assert unk["labels"] == ["jump", "kick", "swing"] and unk["quantile"] == 0.95
    assert "two folds" in unk["rule"]  # the out-of-fold rule (every label has two marks)
    assert unk["n_threshold_rows"] == 36  # every marked row of a, each scored out of fold
    assert (unk["window"], unk["stride"]) == (3, 1)  # half the median mark (6 rows)
    art = store.get_artifact(unk["artifact_id"])
    assert art.kind == UNKNOWN_KIND and art.meta["project_id"] == p.id
    assert art.meta["threshold"] == pytest.approx(unk["threshold"])
    saved = load_prediction(settings.data_dir / unk["videos"][str(b.id)]["path"])
    u = saved.arrays["unknown"]
    assert u.shape == (40,) and saved.meta["threshold"] == pytest.approx(unk["threshold"])
    thr = unk["threshold"]
    assert (u[11:19] > thr).all()  # the unlabelled action lies above the threshold
    assert (u[5:9] < thr).all() and (u[31:35] < thr).all()  # known actions (jump, kick) below it
    assert u[10:20].mean() > u[4:10].mean() + 0.3
    # as the app lists them: one span over the unlabelled action (and unmarked background ones)
    from otcore import service

    spans = service.video_unknown_spans(store, p.id, b.id)
    print("unknown spans of b.mp4 at", round(thr, 3), [(s.start, s.end, round(s.score, 3)) for s in spans])
    assert any(s.start <= 5.5 and s.end >= 9.5 for s in spans)
    assert not any(s.start < 4.5 and s.end > 3.0 for s in spans)  # none over the jump [2, 5) s core


def test_score_unknown_job_and_its_refusals(settings: Settings, project):
    store, p, a, b = project
    result = _run(store, settings, "score_unknown", {"quantile": 0.9, "epochs": 20}, p.id)
    assert result["quantile"] == 0.9 and result["threshold"] is not None
    assert set(result["videos"]) == {str(a.id), str(b.id)}
    # one label only: nothing written, the result says why
    n_art = len(store.list_artifacts(UNKNOWN_KIND))
    one = _run(store, settings, "score_unknown", {"labels": ["jump"], "epochs": 5}, p.id)
    assert one["skipped"] and "two or more labels" in one["skipped"]
    # the stored results read back (None fields are left out of the row)
    assert from_json(UnknownResult, one).threshold is None
    assert from_json(UnknownResult, result).threshold == pytest.approx(result["threshold"])
    assert len(store.list_artifacts(UNKNOWN_KIND)) == n_art
