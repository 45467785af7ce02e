"""The app in headless Chromium, as a newcomer uses it: a new project is selected at once, a
reload or a link opens the same project, page and video, "Open in Annotate" opens the right
project and video, the export never offers another project's file, overlapping proposals get
their own sub-lanes, merges say what they did and undo in one step, the Train page follows a
job that ends, and labels get distinct colours, rename and delete. Each test leaves a
screenshot of its page in the test artifacts folder (``$OTSTUDIO_TEST_ARTIFACTS``, default
``test-artifacts/``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

VIDEO_A = "v_GGSY1Qvo990.mp4"
VIDEO_B = "flipping_a_pancake.mkv"


def _settle(page, timeout: int = 60_000) -> None:
    """Wait until the app has finished its current run (no "Running…" status)."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        ' && !!document.querySelector(\'[data-testid="stSidebar"] [data-testid="stPageLink"]\')'
        " && !!document.querySelector('[data-testid=\"stMain\"] h1')",
        timeout=timeout,
    )
    page.wait_for_timeout(300)


def _goto(page, url: str) -> None:
    """Open ``url`` once the app's first run (at the root, from the ``page`` fixture) is done:
    Streamlit switches from its old pages-folder mode to ``st.navigation`` on that first run."""
    _settle(page)
    page.goto(url)
    _settle(page)


def _store(data_dir: Path):
    from otcore import service
    from otcore.settings import load_settings

    settings = load_settings(data_dir)
    return settings, service.open_store(settings)


def _add(store, settings, project_id: int, shared_data: Path, name: str):
    from otcore import service

    return service.add_video(store, settings, project_id, shared_data / "videos" / name, extract=False).video


def _box_text(box) -> str:
    """What a selectbox shows: its text, and the value of its input when it has one."""
    return box.evaluate(
        "b => b.innerText + ' ' + [...b.querySelectorAll('input')].map(i => i.value + ' ' +"
        " (i.getAttribute('aria-label') || '')).join(' ')"
    )


def _sidebar_project(page) -> str:
    return _box_text(page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").first)


def _video_box(page) -> str:
    return _box_text(page.get_by_test_id("stMain").get_by_test_id("stSelectbox").first)


def _query(page) -> dict[str, str]:
    from urllib.parse import parse_qs, urlparse

    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def _choose(page, box_label: str, option: str) -> None:
    page.get_by_label(box_label, exact=False).first.click()
    page.get_by_role("option", name=re.compile(re.escape(option))).first.click()
    _settle(page)


@pytest.fixture()
def two_projects(streamlit_data_dir: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch):
    """Projects "first" (video A, a mark) and "second" (videos A and B, a mark; proposals on B),
    written before the app starts; no worker (nothing runs in the background)."""
    from otcore.store import EditLog
    from otcore.types import Segment

    monkeypatch.setenv("OTSTUDIO_NO_WORKER", "1")
    settings, store = _store(streamlit_data_dir)
    first = store.create_project("first")
    second = store.create_project("second")
    a1 = _add(store, settings, first.id, shared_data, VIDEO_A)
    a2 = _add(store, settings, second.id, shared_data, VIDEO_A)
    b2 = _add(store, settings, second.id, shared_data, VIDEO_B)
    for p in (first, second):
        store.ensure_label(p.id, "lift")
    log = EditLog(store)
    log.add_segment(a1.id, "lift", 1.0, 2.0)
    log.add_segment(a2.id, "lift", 2.0, 3.0)
    log.replace_predictions(b2.id, [Segment("lift", 1.0, 3.0, 0.4), Segment("lift", 5.0, 6.0, 0.2)], "test")
    ids = {"first": first.id, "second": second.id, "a1": a1.id, "a2": a2.id, "b2": b2.id}
    store.close()
    return ids


def test_create_a_project_selected_listed_no_error(page, streamlit_server: str, screenshot):
    _settle(page)
    # typing right after the first load is not wiped by a rerun in flight
    page.get_by_role("button", name="New project").click()
    box = page.get_by_label("Name", exact=True)
    box.fill("Gymnastics")
    page.wait_for_timeout(1500)
    assert box.input_value() == "Gymnastics"
    page.get_by_role("button", name="Create", exact=True).click()
    _settle(page)
    assert "Gymnastics" in _sidebar_project(page)
    body = page.inner_text("body")
    assert "cannot be modified" not in body and "StreamlitAPIException" not in body
    pid = _query(page).get("project")
    assert pid is not None and pid.isdigit()
    # listed: the selector offers it without a reload
    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").first.click()
    assert page.get_by_role("option", name="Gymnastics").count() == 1
    page.keyboard.press("Escape")
    screenshot(page, "videos-page")


def test_reload_keeps_project_page_and_video(two_projects, page, streamlit_server: str, screenshot):
    ids = two_projects
    _goto(page, f"{streamlit_server}/?project={ids['second']}")
    assert "second" in _sidebar_project(page)
    page.get_by_role("link", name="Annotate").click()
    _settle(page)
    _choose(page, "Video", VIDEO_B)
    q = _query(page)
    assert (
        "/annotation" in page.url
        and q.get("project") == str(ids["second"])
        and q.get("video") == str(ids["b2"])
    )
    page.reload()
    _settle(page)
    assert "/annotation" in page.url
    assert "second" in _sidebar_project(page)
    assert VIDEO_B in _video_box(page)
    # a pasted link opens the same place in a fresh tab
    other = page.context.new_page()
    other.goto(page.url)
    _settle(other)
    assert "second" in _sidebar_project(other) and VIDEO_B in _video_box(other)
    other.close()
    # internal navigation carries the project; back comes back to the same video
    page.get_by_role("link", name="Inspect").click()
    _settle(page)
    assert _query(page).get("project") == str(ids["second"])
    screenshot(page, "inspect-page")
    page.go_back()
    _settle(page)
    assert "/annotation" in page.url and "second" in _sidebar_project(page)
    assert VIDEO_B in _video_box(page)


def test_open_in_annotate_opens_the_right_project_and_video(
    two_projects, page, streamlit_server: str, screenshot
):
    ids = two_projects
    _goto(page, f"{streamlit_server}/review-export?project={ids['second']}")
    assert "second" in _sidebar_project(page)
    screenshot(page, "review-page")
    page.get_by_role("button", name="Open in Annotate").first.click()
    _settle(page)
    q = _query(page)
    assert "/annotation" in page.url, page.url
    assert q.get("project") == str(ids["second"]) and q.get("video") == str(ids["b2"]), q
    assert "second" in _sidebar_project(page)
    assert VIDEO_B in _video_box(page)


def test_export_offers_only_the_current_projects_file(two_projects, page, streamlit_server: str):
    ids = two_projects
    _goto(page, f"{streamlit_server}/review-export?project={ids['first']}")
    page.get_by_role("tab", name="Export").click()
    page.get_by_role("button", name="Prepare export").click()
    page.get_by_role("button", name=re.compile(r"Download first_csv\.csv")).wait_for(timeout=30_000)
    # switch the project in the sidebar: the first project's file is not offered any more
    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name="second").click()
    _settle(page)
    page.get_by_role("tab", name="Export").click()
    assert page.get_by_role("button", name=re.compile(r"Download first_csv")).count() == 0
    page.get_by_role("button", name="Prepare export").click()
    page.get_by_role("button", name=re.compile(r"Download second_csv\.csv")).wait_for(timeout=30_000)
    assert page.get_by_role("button", name=re.compile(r"Download first_csv")).count() == 0


def _timeline(page):
    return page.frame_locator('iframe[title*="timeline"]')


def _canvas_data(page, name: str, value: str, timeout: int = 60_000) -> None:
    page.wait_for_function(
        "([n, v]) => { const f = document.querySelector('iframe[title*=timeline]');"
        " const c = f && f.contentDocument && f.contentDocument.getElementById('timeline');"
        " return c && c.dataset[n] === v; }",
        arg=[name, value],
        timeout=timeout,
    )


def test_overlapping_proposals_on_separate_sub_lanes(
    streamlit_data_dir: Path, shared_data: Path, monkeypatch, page, streamlit_server: str
):
    from otcore.store import EditLog
    from otcore.types import Segment

    settings, store = _store(streamlit_data_dir)
    p = store.create_project("props")
    v = _add(store, settings, p.id, shared_data, VIDEO_A)
    store.ensure_label(p.id, "lift")
    log = EditLog(store)
    log.add_segment(v.id, "lift", 10.0, 12.0)  # marked by the person
    log.replace_predictions(
        v.id,
        [
            Segment("lift", 1.0, 4.0, 0.9),
            Segment("lift", 3.0, 6.0, 0.6),  # overlaps the first by a third: its own sub-lane
            Segment("lift", 1.2, 3.8, 0.3),  # mostly inside the first: suppressed
            Segment("lift", 10.5, 11.5, 0.8),  # over marked time: not shown
        ],
        "test",
    )
    store.close()
    _goto(page, f"{streamlit_server}/annotation?project={p.id}")
    _timeline(page).locator("#timeline").wait_for(timeout=60_000)
    _canvas_data(page, "proposalLanes", "2")
    _canvas_data(page, "segments", "3")
    lanes = (
        _timeline(page)
        .locator("#video")
        .evaluate(
            "v => window.otTimeline.state.segments.filter(s => s.source === 'predicted')"
            ".map(s => [s.start, s._sub])"
        )
    )
    assert sorted(lanes) == [[1.0, 0], [3.0, 1]] or sorted((round(a, 1), b) for a, b in lanes) == [
        (1.0, 0),
        (3.0, 1),
    ]


def test_merge_is_announced_and_one_undo_restores_both(
    streamlit_data_dir: Path, shared_data: Path, page, streamlit_server: str, screenshot
):
    from otcore.store import EditLog

    settings, store = _store(streamlit_data_dir)
    p = store.create_project("merge")
    v = _add(store, settings, p.id, shared_data, VIDEO_A)
    store.ensure_label(p.id, "lift")
    log = EditLog(store)
    log.add_segment(v.id, "lift", 1.0, 2.0)
    log.add_segment(v.id, "lift", 3.0, 4.0)
    before = sorted((s.start, s.end) for s in log.segments(v.id))
    _goto(page, f"{streamlit_server}/annotation?project={p.id}&video={v.id}")
    tl = _timeline(page)
    canvas = tl.locator("#timeline")
    canvas.wait_for(timeout=60_000)
    _canvas_data(page, "segments", "2")
    canvas.click(position={"x": 60, "y": 35})
    page.keyboard.press("Home")
    page.keyboard.press("]")  # select the first segment
    page.keyboard.press("m")  # merge it with the next one of its lane
    message = tl.locator("#message")
    message.filter(has_text="merged into lift [").wait_for(timeout=30_000)
    text = message.inner_text()
    found = re.search(r"merged into lift \[(\d+\.\d+), (\d+\.\d+)\)", text)
    assert found, text
    a, b = float(found.group(1)), float(found.group(2))
    assert a == pytest.approx(before[0][0], abs=1e-3) and b == pytest.approx(before[1][1], abs=1e-3)
    page.get_by_text("Segments (1)", exact=True).wait_for(timeout=30_000)
    selected = tl.locator("#selection").inner_text()
    assert f"selected: lift [{a:.3f}, {b:.3f})" in selected, selected
    screenshot(page, "annotate-page")
    page.get_by_role("button", name="↶ Undo").click()  # the page's Undo: one step
    page.get_by_text("Segments (2)", exact=True).wait_for(timeout=30_000)
    settings, store = _store(streamlit_data_dir)
    try:
        assert sorted((s.start, s.end) for s in EditLog(store).segments(v.id)) == before
    finally:
        store.close()


@pytest.fixture()
def no_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app under test starts no background worker (the test plays the worker's part)."""
    monkeypatch.setenv("OTSTUDIO_NO_WORKER", "1")


def test_train_button_and_history_follow_a_job_that_ends(
    no_worker, streamlit_data_dir: Path, shared_data: Path, page, streamlit_server: str, screenshot
):
    from otcore import service
    from otcore.jobs import queue
    from otcore.store import EditLog

    settings, store = _store(streamlit_data_dir)
    p = store.create_project("train")
    v = _add(store, settings, p.id, shared_data, VIDEO_A)
    EditLog(store).add_segment(v.id, "lift", 1.0, 2.0)
    job_id = service.submit_training(
        store,
        service.TrainRequest(project_id=p.id, labels=("lift",), video_ids=(v.id,), method="coop"),
        project_id=p.id,
    )
    _goto(page, f"{streamlit_server}/training?project={p.id}")
    train = page.get_by_role("button", name="Train", exact=True)
    page.get_by_text(f"Job {job_id}: queued").wait_for(timeout=30_000)
    assert train.is_disabled()
    claimed = queue.claim_next(store, "e2e", kinds=["train_fewshot"])
    assert claimed is not None and claimed.id == job_id
    queue.fail(store, job_id, "e2e", "stopped by the test")
    store.close()
    # no navigation: the page follows the job on its own
    page.get_by_text(f"Job {job_id}: failed").wait_for(timeout=30_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('button')].some(b => b.innerText.trim() === 'Train' && !b.disabled)",
        timeout=30_000,
    )
    assert not train.is_disabled()
    screenshot(page, "train-page")


def test_labels_distinct_colours_rename_and_delete(
    streamlit_data_dir: Path, shared_data: Path, page, streamlit_server: str
):
    from otcore.store import LABEL_PALETTE

    settings, store = _store(streamlit_data_dir)
    p = store.create_project("labels")
    _add(store, settings, p.id, shared_data, VIDEO_A)
    store.close()
    _goto(page, f"{streamlit_server}/annotation?project={p.id}")
    for name in ("jump", "run", "fall"):
        page.get_by_label("New label").fill(name)
        page.get_by_role("button", name="Add label").click()
        _settle(page)
        page.get_by_text(f"Label {name} added").wait_for(timeout=30_000)
    settings, store = _store(streamlit_data_dir)
    labels = store.list_labels(p.id)
    assert [lab.name for lab in labels] == ["jump", "run", "fall"]
    colours = [lab.color.upper() for lab in labels]
    assert len(set(colours)) == 3 and set(colours) <= {c.upper() for c in LABEL_PALETTE}
    # the timeline's chips show those colours, keys in the same order
    chips = _timeline(page).locator("#labels .chip")
    chips.first.wait_for(timeout=60_000)
    assert [c.strip() for c in chips.all_inner_texts()] == ["1 jump", "2 run", "3 fall"]
    # rename
    box = page.get_by_test_id("stMain").get_by_role("textbox", name="Name", exact=True).nth(1)
    assert box.input_value() == "run"
    box.fill("sprint")
    box.press("Enter")
    _settle(page)
    page.get_by_text("Renamed to sprint").wait_for(timeout=30_000)
    # delete, with what happens to its segments stated
    page.get_by_test_id("stMain").get_by_role("button", name="Delete", exact=True).nth(2).click()
    page.get_by_text("also deletes its 0 segments").wait_for(timeout=30_000)
    page.get_by_role("button", name=re.compile(r"Delete fall and its 0 segments")).click()
    _settle(page)
    assert [lab.name for lab in store.list_labels(p.id)] == ["jump", "sprint"]
    store.close()
