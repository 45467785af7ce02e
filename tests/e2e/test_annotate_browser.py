"""The timeline in headless Chromium against ``streamlit run serve.py``: mark a segment with the
keyboard on a real video, reload, see it, undo/redo, export CSV and check the times to one frame."""

from __future__ import annotations

import base64
import csv
import io
import re
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
VIDEO = "v_GGSY1Qvo990.mp4"  # real ActivityNet sample, H.264, 19.62 fps (not a round rate)
IN_FRAME, OUT_FRAME = 20, 57


@pytest.fixture()
def seeded(streamlit_data_dir: Path, shared_data: Path):
    """A project with one real video and one label, written before the app starts."""
    from otcore import service
    from otcore.settings import load_settings

    settings = load_settings(streamlit_data_dir)
    store = service.open_store(settings)
    project = store.create_project("e2e")
    added = service.add_video(store, settings, project.id, shared_data / "videos" / VIDEO, extract=False)
    store.ensure_label(project.id, "lift", "#e45756")
    times = store.frame_times(added.video.id)
    assert times is not None and len(times) > OUT_FRAME
    store.close()
    return np.asarray(times), added.video


def _open(page, base: str, title: str) -> None:
    """Open the app at its root (so app.py wires the project selector) and go to a page by its link."""
    page.goto(base)
    # the app's own page links (they carry the project), once its first run has drawn them
    page.get_by_test_id("stPageLink").filter(has_text=title).first.click()
    page.wait_for_url(re.compile(r"/(annotation|review-export)(\?|$)"), timeout=30_000)


def _store_segments(data_dir: Path, video_id: int) -> list:
    """The video's active segments, read straight from the app's store."""
    from otcore.settings import load_settings
    from otcore.store import EditLog, Store

    store = Store.from_settings(load_settings(data_dir))
    try:
        return EditLog(store).segments(video_id)
    finally:
        store.close()


def _timeline(page):
    return page.frame_locator('iframe[title*="timeline"]')


def _wait_segments(page, n: int) -> None:
    page.get_by_text(f"Segments ({n})", exact=True).wait_for(timeout=30_000)


def test_mark_reload_undo_export(seeded, page, streamlit_server: str, streamlit_data_dir: Path):
    times, video = seeded
    seeded_dir = streamlit_data_dir
    fps = video.fps
    _open(page, streamlit_server, "Annotate")
    tl = _timeline(page)
    canvas = tl.locator("#timeline")
    canvas.wait_for(timeout=60_000)
    # the <video> streams from the app's own origin (not from Python memory) and becomes playable
    src = tl.locator("#video").evaluate("v => v.currentSrc")
    assert src.startswith(streamlit_server + "/otstudio/video/"), src
    page.wait_for_function(
        "() => { const f = document.querySelector('iframe[title*=timeline]');"
        " const v = f && f.contentDocument && f.contentDocument.getElementById('video');"
        " return v && v.readyState >= 2; }",
        timeout=30_000,
    )

    # keyboard: focus the component, go to frame IN_FRAME, mark in, step to OUT_FRAME, mark out
    canvas.click(position={"x": 60, "y": 40})  # lane header: focuses, chooses the label, no seek
    page.keyboard.press("Home")
    for _ in range(IN_FRAME):
        page.keyboard.press("ArrowRight")
    assert f"frame {IN_FRAME} /" in tl.locator("#clock").inner_text()
    page.keyboard.press("i")
    for _ in range(OUT_FRAME - IN_FRAME):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("o")
    _wait_segments(page, 1)
    expect = (float(times[IN_FRAME]), float(times[OUT_FRAME]))

    # reload: the segment is in the store, the page and the component show it
    page.reload()
    _wait_segments(page, 1)
    tl = _timeline(page)
    page.wait_for_function(
        "() => { const f = document.querySelector('iframe[title*=timeline]');"
        " const c = f && f.contentDocument && f.contentDocument.getElementById('timeline');"
        " return c && c.dataset.segments === '1'; }",
        timeout=30_000,
    )

    # undo with the keyboard (persisted log), then redo
    tl.locator("#timeline").click(position={"x": 60, "y": 40})
    page.keyboard.press("Control+z")
    _wait_segments(page, 0)
    page.keyboard.press("Control+Shift+z")
    _wait_segments(page, 1)

    # drag the end boundary with the mouse: it lands on a real frame start; then undo the drag
    box = tl.locator("#timeline").bounding_box()
    x_end = tl.locator("#video").evaluate(
        "v => { const S = window.otTimeline.state, w = document.getElementById('timeline').clientWidth;"
        " const s = S.segments[0], x0 = 150, x1 = w - 4;"
        " return x0 + (s.end - S.view.t0) / (S.view.t1 - S.view.t0) * (x1 - x0); }"
    )
    y = box["y"] + 22 + 13  # first lane
    page.mouse.move(box["x"] + x_end, y)
    page.mouse.down()
    page.mouse.move(box["x"] + x_end + 40, y, steps=4)
    page.mouse.up()
    message = tl.locator("#message")
    message.filter(has_text="updated segment").wait_for(timeout=30_000)
    (dragged,) = _store_segments(seeded_dir, video.id)
    assert dragged.end > expect[1] + 0.5 / fps and np.min(np.abs(times - dragged.end)) < 1e-6
    assert dragged.start == pytest.approx(expect[0], abs=1e-6)
    page.keyboard.press("Control+z")
    message.filter(has_text="undone").wait_for(timeout=30_000)
    (back,) = _store_segments(seeded_dir, video.id)
    assert back.end == pytest.approx(expect[1], abs=1e-6)

    # export CSV from Review & Export and check the times to one frame
    _open(page, streamlit_server, "Review & Export")
    page.get_by_role("tab", name="Export").click()
    page.get_by_role("button", name="Prepare export").click()
    with page.expect_download(timeout=30_000) as dl:
        page.get_by_role("button", name=re.compile(r"Download .*\.csv")).click()
    rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text())))
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["label"] == "lift" and row["source"] == "manual"
    assert abs(float(row["start"]) - expect[0]) <= 1.0 / fps + 1e-6
    assert abs(float(row["end"]) - expect[1]) <= 1.0 / fps + 1e-6
    # in fact exactly on the real frame starts the keys pointed at (no fps rounding anywhere)
    assert float(row["start"]) == pytest.approx(expect[0], abs=1e-3)
    assert float(row["end"]) == pytest.approx(expect[1], abs=1e-3)


def test_displayed_image_is_the_decoded_frame(seeded, page, streamlit_server: str, shared_data: Path):
    """Frame stepping shows exactly frame k of the file (compared pixel-wise with PyAV's decode)."""
    import av
    from PIL import Image

    times, video = seeded
    wanted = [30, 31, 100, 200, len(times) - 1]
    frames: dict[int, np.ndarray] = {}
    with av.open(str(shared_data / "videos" / VIDEO)) as container:
        for i, f in enumerate(container.decode(video=0)):
            if any(abs(i - k) <= 1 for k in wanted):
                frames[i] = f.to_ndarray(format="rgb24").astype(np.float32)
    _open(page, streamlit_server, "Annotate")
    tl = _timeline(page)
    tl.locator("#timeline").wait_for(timeout=60_000)
    page.wait_for_function(
        "() => { const f = document.querySelector('iframe[title*=timeline]');"
        " const v = f && f.contentDocument && f.contentDocument.getElementById('video');"
        " return v && v.readyState >= 2; }",
        timeout=30_000,
    )
    vid = tl.locator("#video")
    for k in wanted:
        vid.evaluate(f"v => {{ window.otTimeline.cmd.home(); window.otTimeline.cmd.step({k}); }}")
        page.wait_for_timeout(150)
        vid.evaluate(
            "v => new Promise(r => v.seeking ? v.addEventListener('seeked', () => r(), {once: true}) : r())"
        )
        page.wait_for_timeout(150)
        png = vid.evaluate(
            "v => { const c = document.createElement('canvas');"
            " c.width = v.videoWidth; c.height = v.videoHeight;"
            " c.getContext('2d').drawImage(v, 0, 0); return c.toDataURL('image/png'); }"
        )
        img = np.asarray(
            Image.open(io.BytesIO(base64.b64decode(png.split(",", 1)[1]))).convert("RGB"), dtype=np.float32
        )
        err = {j: float(np.abs(img - frames[j]).mean()) for j in (k - 1, k, k + 1) if j in frames}
        assert min(err, key=err.get) == k, (k, err)
        assert f"frame {k} /" in tl.locator("#clock").inner_text()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))
