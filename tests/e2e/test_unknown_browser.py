"""Unknown actions in headless Chromium: the Review list of the strongest unknown spans, the jump to
one on the Annotate timeline (its "unknown action" lane shades the spans), and a new label made from it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from otcore.settings import load_settings
from otcore.store import EditLog, Store
from tests.unknown_scores import two_videos_scores, write_scores

pytestmark = pytest.mark.browser

_CANVAS = "document.querySelector('iframe[title*=timeline]').contentDocument.getElementById('timeline')"


@pytest.fixture()
def seeded(streamlit_data_dir: Path):
    """Two 10 s videos (no media: the timeline works without one), labels jump and run, a jump mark
    on a.mp4 and stored unknown-action scores, written before the app starts."""
    settings = load_settings(streamlit_data_dir)
    store = Store.from_settings(settings)
    project = store.create_project("unknown")
    np.save(streamlit_data_dir / "ft.npy", np.arange(250) / 25.0)
    videos = [
        store.add_video(
            project.id,
            f"{n}.mp4",
            f"videos/{n}.mp4",
            n * 64,
            10.0,
            25.0,
            250,
            8,
            8,
            frame_times_path="ft.npy",
        )
        for n in ("a", "b")
    ]
    store.ensure_label(project.id, "jump")
    store.ensure_label(project.id, "run")
    EditLog(store).add_segment(videos[0].id, "jump", 0.0, 1.0)
    write_scores(store, settings, project.id, dict(zip([v.id for v in videos], two_videos_scores())), 0.5)
    yield store, project, videos
    store.close()


def _wait_canvas(page, attr: str, value: str) -> None:
    page.wait_for_function(
        f"() => {{ try {{ const c = {_CANVAS}; return c && c.dataset.{attr} === '{value}'; }} "
        "catch (e) { return false; } }",
        timeout=60_000,
    )


def test_review_lists_unknown_spans_jump_and_new_label(seeded, page, streamlit_server: str):
    store, project, (a, b) = seeded
    page.goto(streamlit_server)
    page.get_by_test_id("stPageLink").first.wait_for(timeout=90_000)  # the app's first run drew the links
    page.get_by_test_id("stPageLink").filter(has_text="Review").first.click()
    page.wait_for_url(re.compile(r"/review-export(\?|$)"), timeout=30_000)
    page.get_by_role("tab", name="Unknown actions").click()
    page.get_by_text(re.compile(r"3 unknown spans at threshold 0\.500")).wait_for(timeout=60_000)
    # the strongest span is picked: b.mp4 [5, 6.5) s; jump to it
    page.get_by_role("button", name="Open in Annotate").click()
    page.wait_for_url(re.compile(rf"/annotation\?.*video={b.id}.*t=5\.000"), timeout=30_000)
    _wait_canvas(page, "unknownSpans", "2")  # b.mp4: [5, 6.5) and [8, 9) s
    tl = page.frame_locator('iframe[title*="timeline"]')
    # click the first span in the "unknown action" lane: the playhead goes to its start
    x, y = tl.locator("#timeline").evaluate(
        "c => { const S = window.otTimeline.state, li = S.lanes.findIndex(l => l.unknown);"
        " const x0 = 150, x1 = c.clientWidth - 4, t = 5.5;"
        " return [x0 + (t - S.view.t0) / (S.view.t1 - S.view.t0) * (x1 - x0), 22 + li * 26 + 13]; }"
    )
    tl.locator("#timeline").click(position={"x": x, "y": y})
    tl.locator("#message").filter(has_text="unknown action [5.000, 6.500)").wait_for(timeout=10_000)
    assert "5.000 s" in tl.locator("#clock").inner_text()
    # name it: a new label whose first mark is the span
    page.get_by_text(re.compile(r"New label from span \(2 unknown spans")).click()
    field = page.get_by_role("textbox", name="New label name")
    field.fill("spin")
    field.press("Enter")
    page.get_by_role("button", name="New label from span").click()
    page.get_by_text(re.compile(r"with its first mark")).wait_for(timeout=30_000)
    _wait_canvas(page, "unknownSpans", "1")  # the span is marked now
    _wait_canvas(page, "segments", "1")
    segs = EditLog(store).segments(b.id)
    assert [(s.label, s.start, s.source) for s in segs] == [("spin", 5.0, "manual")]
    assert segs[0].end == pytest.approx(6.5, abs=0.021)  # snapped to a frame of the 25 fps grid
    assert "spin" in [x.name for x in store.list_labels(project.id)]
