"""The few-shot job's proposal path snaps boundaries to the features' strongest change."""

from __future__ import annotations

import pytest

from otcore.jobs import queue
from otcore.jobs.context import JobContext
from otcore.jobs.worker import execute
from otcore.methods.refine import refine_segments
from otcore.service import load_prediction
from otcore.settings import Settings
from otcore.store import EditLog, Store
from tests.jobs.fewshot_data import LAYOUT_A, LAYOUT_B
from tests.jobs.fewshot_data import features as _features

pytestmark = pytest.mark.usefixtures("one_thread")


def _run(store: Store, settings: Settings, kind: str, params: dict, pid: int) -> dict:
    jid = queue.submit(store, kind, params, project_id=pid)
    ctx = JobContext(store, settings, jid)
    out = execute(ctx, kind, dict(queue.get_job(store, jid).params))
    ctx.flush()
    return out


def test_predict_job_refines_proposal_boundaries(settings: Settings, video_with_features) -> None:
    store = Store.from_settings(settings)
    try:
        p = store.create_project("P")
        a = video_with_features(
            store,
            settings,
            p.id,
            "a.mp4",
            _features(0, LAYOUT_A),
        )
        feats_b = _features(1, LAYOUT_B)
        b = video_with_features(store, settings, p.id, "b.mp4", feats_b)
        log = EditLog(store)
        log.add_segment(a.id, "jump", 3.0, 5.0)
        log.add_segment(a.id, "swing", 8.0, 11.0)
        trained = _run(
            store, settings, "train_fewshot", {"method": "prototype", "epochs": 5, "predict": False}, p.id
        )
        raw = _run(
            store,
            settings,
            "predict_fewshot",
            {"model_path": trained["model_path"], "video_ids": [b.id], "refine_steps": 0, "min_score": 0.0},
            p.id,
        )
        snapped = _run(
            store,
            settings,
            "predict_fewshot",
            {"model_path": trained["model_path"], "video_ids": [b.id], "refine_steps": 2, "min_score": 0.0},
            p.id,
        )
        raw_segs = load_prediction(settings, raw["predictions"][str(b.id)]["plans_path"]).segments
        got = load_prediction(settings, snapped["predictions"][str(b.id)]["plans_path"]).segments
        assert raw_segs  # the model proposes something on b
        want = refine_segments(list(raw_segs), feats_b, 2.0, radius=2)

        def key(segs) -> list[tuple[str, float, float]]:
            return [(s.label, round(s.start, 6), round(s.end, 6)) for s in segs]

        assert key(got) == key(want)
        assert key(got) != key(raw_segs)  # some boundary did move
        # the proposals a person sees are taken from the refined segments
        shown = log.segments(b.id, sources=("predicted",))
        assert shown  # (the store keeps times on the video's frames, 25 fps here)
        for s in shown:
            assert any(
                w.label == s.label and abs(w.start - s.start) <= 0.021 and abs(w.end - s.end) <= 0.021
                for w in want
            )
        # b's true edges (frames 4, 9, 15, 19 at 2 fps) are where refined boundaries can land within reach
        edges = {2.0, 4.5, 7.5, 9.5}
        near = [x for s in raw_segs for x in (s.start, s.end) if any(0 < abs(x - e) <= 1.0 for e in edges)]
        if near:
            moved = [x for s in got for x in (s.start, s.end)]
            assert any(x in edges for x in moved)
        with pytest.raises(Exception, match="refine_steps"):
            _run(
                store,
                settings,
                "predict_fewshot",
                {"model_path": trained["model_path"], "refine_steps": -1},
                p.id,
            )
    finally:
        store.close()
