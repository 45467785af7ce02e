"""In the browser: find phases on a real video from the Inspect page and see the cluster lane."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from otcore.jobs.worker import run_worker
from otcore.settings import load_settings
from otcore.store import Store

pytestmark = pytest.mark.browser


@pytest.fixture()
def seeded(streamlit_data_dir: Path, shared_data: Path):
    from otcore.video.decode import probe

    settings = load_settings(streamlit_data_dir)
    store = Store.from_settings(settings)
    p = store.create_project("phases")
    src = shared_data / "videos" / "v_GGSY1Qvo990.mp4"
    dst = settings.data_dir / "videos" / src.name
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst)
    info = probe(dst)
    n = int(info.duration * 2.0)
    means = np.random.default_rng(3).normal(size=(3, 16)) * 3
    feats = (
        means[np.minimum(np.arange(n) * 3 // n, 2)] + np.random.default_rng(4).normal(size=(n, 16))
    ).astype(np.float32)
    v = store.add_video(
        p.id,
        src.name,
        f"videos/{src.name}",
        "c" * 64,
        info.duration,
        info.fps,
        info.n_frames,
        info.width,
        info.height,
    )
    path = settings.features_dir / "v.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, features=feats, fps=np.float64(2.0))
    art = store.add_artifact(
        "features", "kv", str(path.relative_to(settings.data_dir)), {"model_id": "test", "fps": 2.0}
    )
    store.set_video_features(v.id, art.id)
    yield store, p, v, settings
    store.close()


def test_find_phases_in_the_browser(seeded, page, streamlit_server: str):
    store, p, v, settings = seeded
    page.goto(f"{streamlit_server}/inspect")
    page.get_by_role("tab", name=re.compile("Phases")).first.click()
    k = page.get_by_label("Number of phases K")
    k.fill("3")
    k.press("Enter")
    page.get_by_role("button", name="Find phases").click()
    page.get_by_text(re.compile(r"Finding phases: (queued|running)")).first.wait_for(timeout=60_000)
    run_worker(settings, once=True, store=store, kinds=["find_phases"])
    # no click: the page polls the job and redraws when it is done
    page.get_by_text("ASOT with K = 3").first.wait_for(timeout=60_000)
    charts = page.locator('[data-testid="stPlotlyChart"]')
    charts.nth(1).wait_for(timeout=60_000)  # cluster lane + plan heatmap
    assert charts.count() >= 2
