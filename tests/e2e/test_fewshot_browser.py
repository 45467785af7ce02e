"""A person with a few marks trains a few-shot model from the browser and gets proposals on every video."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from otcore.jobs.worker import run_worker
from otcore.settings import load_settings
from otcore.store import EditLog, Store

pytestmark = pytest.mark.browser


def _features(seed: int, layout: list[tuple[str | None, int]]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = []
    for label, n in layout:
        x = rng.random((n, 16)).astype(np.float32)
        if label == "jump":
            x[:, :4] += 3
        rows.append(x)
    return np.concatenate(rows)


@pytest.fixture()
def seeded(streamlit_data_dir: Path):
    """A project with two videos whose features are stored, and two marks on the first."""
    settings = load_settings(streamlit_data_dir)
    store = Store.from_settings(settings)
    p = store.create_project("marks")
    ids = []
    for i, layout in enumerate(
        [[(None, 6), ("jump", 4), (None, 8), ("jump", 5), (None, 5)], [(None, 4), ("jump", 5), (None, 9)]]
    ):
        feats = _features(i, layout)
        v = store.add_video(
            p.id,
            f"v{i}.mp4",
            f"videos/v{i}.mp4",
            f"{i}" * 64,
            feats.shape[0] / 2.0,
            25.0,
            int(feats.shape[0] * 12.5),
            32,
            24,
        )
        path = settings.features_dir / f"v{i}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, features=feats, fps=np.float64(2.0))
        art = store.add_artifact(
            "features", f"k{i}", str(path.relative_to(settings.data_dir)), {"model_id": "test", "fps": 2.0}
        )
        store.set_video_features(v.id, art.id)
        ids.append(v.id)
    log = EditLog(store)
    log.add_segment(ids[0], "jump", 3.0, 5.0)
    log.add_segment(ids[0], "jump", 9.0, 11.5)
    yield store, p, ids, settings
    store.close()


def test_train_in_the_browser_writes_proposals(seeded, page, streamlit_server: str):
    store, p, ids, settings = seeded
    page.goto(f"{streamlit_server}/train")
    page.get_by_text("Labels to learn").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text(re.compile(r"Training job \d+ queued")).first.wait_for(timeout=60_000)
    # run the queued training job here (the app's own worker may not be up yet on a loaded machine);
    # the page's polled fragment must show its progress and outcome either way
    run_worker(settings, once=True, store=store, kinds=["train_fewshot"])
    page.get_by_text(re.compile(r"proposals on 2 videos")).first.wait_for(timeout=120_000)
    log = EditLog(store)
    for vid in ids:
        preds = log.segments(vid, sources=("predicted",))
        assert preds and all(s.label == "jump" and s.score is not None for s in preds)
    assert len(log.segments(ids[0], sources=("manual",))) == 2
