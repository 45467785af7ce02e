"""A person uploads a real video in the browser and sees it listed with its duration,
also after a reload."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from otcore.video.decode import probe

pytestmark = pytest.mark.browser


def test_upload_a_video_and_see_it_listed(page, shared_data: Path, streamlit_data_dir: Path):
    video = shared_data / "videos" / "v_GGSY1Qvo990.mp4"
    duration = probe(video).duration
    page.get_by_text("Upload videos").first.wait_for()
    page.locator("input[type=file]").first.set_input_files(str(video))
    page.get_by_text(re.compile(r"v_GGSY1Qvo990\.mp4.*stored")).first.wait_for(timeout=60_000)
    body = page.locator("body").inner_text()
    assert f"{duration:.1f} s" in body
    page.reload()
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.wait_for(timeout=60_000)
    # the grid draws on a canvas; its accessible table holds the same cell texts
    grid.locator("td[role=gridcell]", has_text="v_GGSY1Qvo990.mp4").first.wait_for(
        state="attached", timeout=30_000
    )
    cells = [c.strip() for c in grid.locator("td[role=gridcell]").all_text_contents()]
    row = cells.index("v_GGSY1Qvo990.mp4")
    assert cells[row + 1] == f"{duration:.2f}", cells
