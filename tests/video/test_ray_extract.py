"""Bulk extraction of a project's videos: local, and on a local Ray (``ray.init(num_cpus=2)``).

Both run the worker's ``extract_features`` code, so the feature files, artifacts and video rows
must be those a worker writes (checked by running the worker's job afterwards with ``force``).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from video_testutil import write_video

from otcore.cli import main as cli_main
from otcore.jobs import queue
from otcore.jobs.extract import ExtractRequest, clear_encoder_cache
from otcore.jobs.ray_extract import extract_project
from otcore.jobs.worker import run_worker
from otcore.settings import Settings, load_settings
from otcore.store import Store
from otcore.video.ingest import ingest_file
from otcore.video.model_configs import TINY_MODEL


@pytest.fixture()
def project(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Settings, int, list[int]]:
    monkeypatch.setenv("OTSTUDIO_OFFLINE", "1")
    monkeypatch.delenv("OTSTUDIO_CLIP_WEIGHTS", raising=False)
    settings = load_settings(data_dir)
    store = Store.from_settings(settings)
    p = store.create_project("bulk")
    ids = []
    for i, n in enumerate((24, 30, 36, 18)):
        src = write_video(tmp_path / f"clip{i}.mp4", n=n, rate=12)
        ing = ingest_file(src, None, settings.videos_dir)
        pr = ing.probe
        v = store.add_video(
            p.id, ing.filename, str(ing.path.relative_to(data_dir)), ing.sha256,
            pr.duration, pr.fps, pr.n_frames, pr.width, pr.height,
        )  # fmt: skip
        ids.append(v.id)
    store.close()
    clear_encoder_cache()
    return settings, p.id, ids


def _request(weights: Path) -> ExtractRequest:
    return ExtractRequest(video_id=0, fps=4.0, model=TINY_MODEL, pretrained=None, weights_file=str(weights))


def _rows(settings: Settings, ids: list[int]) -> dict[int, tuple[str, str, str, dict, np.ndarray]]:
    store = Store.from_settings(settings)
    out = {}
    for vid in ids:
        video = store.get_video(vid)
        art = store.get_video_features(vid)
        assert video is not None and art is not None
        with np.load(store.resolve_path(art.path)) as z:
            feats = np.array(z["features"])
        out[vid] = (video.status, art.key, art.path, dict(art.meta), feats)
    store.close()
    return out


def _worker_rows(settings: Settings, ids: list[int], weights: Path) -> dict[int, tuple]:
    """What the worker's own extract jobs write for the same videos (extracting again)."""
    store = Store.from_settings(settings)
    req = _request(weights)
    for vid in ids:
        queue.submit(store, "extract_features", {**req.__dict__, "video_id": vid, "force": True})
    assert run_worker(settings, once=True, store=store) == len(ids)
    assert all(j.status == "done" for j in queue.list_jobs(store, reap=False))
    store.close()
    return _rows(settings, ids)


def _same(a: dict[int, tuple], b: dict[int, tuple]) -> None:
    assert a.keys() == b.keys()
    for vid in a:
        assert a[vid][:3] == b[vid][:3] and a[vid][0] == "ready"
        meta_a = {k: v for k, v in a[vid][3].items()}
        meta_b = {k: v for k, v in b[vid][3].items()}
        assert meta_a == meta_b
        np.testing.assert_allclose(a[vid][4], b[vid][4], atol=1e-3)


def _rows_done(settings: Settings, job_ids: dict[int, int] | None, ids: list[int]) -> None:
    """Each video got one extract_features job row, finished as a worker finishes it."""
    assert job_ids is not None and sorted(job_ids) == ids
    store = Store.from_settings(settings)
    for vid, job_id in job_ids.items():
        row = queue.get_job(store, job_id)
        assert row.kind == "extract_features" and row.params["video_id"] == vid
        assert row.status == "done" and row.progress == 1.0 and row.result["video_id"] == vid
        assert row.attempts == 1 and row.max_attempts == 1
    store.close()


def test_local_engine_writes_what_the_worker_writes(project, tiny_weights: Path) -> None:
    settings, pid, ids = project
    seen: list[tuple[int, int]] = []
    out = extract_project(
        settings,
        pid,
        request=_request(tiny_weights),
        engine="local",
        progress=lambda d, n, m: seen.append((d, n)),
    )
    assert not out.failures and sorted(r.video_id for r in out.results) == ids
    assert seen == [(i, 4) for i in range(1, 5)]
    assert [r.n_frames for r in sorted(out.results, key=lambda r: r.video_id)] == [8, 10, 12, 6]
    _rows_done(settings, out.job_ids, ids)
    _same(_rows(settings, ids), _worker_rows(settings, ids, tiny_weights))


def test_a_bad_video_fails_alone(project, tiny_weights: Path) -> None:
    settings, pid, ids = project
    store = Store.from_settings(settings)
    store.resolve_path(store.get_video(ids[1]).path).unlink()  # type: ignore[union-attr]
    store.close()
    out = extract_project(settings, pid, request=_request(tiny_weights))
    assert [v for v, _ in out.failures] == [ids[1]] and "missing" in out.failures[0][1]
    assert len(out.results) == 3
    store = Store.from_settings(settings)
    assert store.get_video(ids[1]).status == "failed"  # type: ignore[union-attr]
    store.close()


def test_cli_bad_project_and_engine(project, capsys: pytest.CaptureFixture[str]) -> None:
    settings, _, _ = project
    assert cli_main(["extract", "--project", "nope", "--data-dir", str(settings.data_dir)]) == 2
    assert "no project 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["extract", "--project", "bulk", "--engine", "spark", "--data-dir", str(settings.data_dir)])


@pytest.mark.slow
def test_ray_engine_two_cpus_writes_what_the_worker_writes(
    project, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'otstudio[ray]')")
    settings, pid, ids = project
    # the actors import this checkout's otcore
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False)
    try:
        seen: list[int] = []
        out = extract_project(
            settings,
            pid,
            request=_request(tiny_weights),
            engine="ray",
            progress=lambda d, n, m: seen.append(d),
        )
    finally:
        ray.shutdown()
    assert out.slots == 2 and not out.failures, out.failures
    assert seen == [1, 2, 3, 4]
    assert sorted(r.video_id for r in out.results) == ids
    _rows_done(settings, out.job_ids, ids)
    _same(_rows(settings, ids), _worker_rows(settings, ids, tiny_weights))


@pytest.mark.slow
def test_ray_engine_rows_wait_and_a_cancel_from_the_app_skips_a_video(
    project, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'otstudio[ray]')")
    settings, pid, ids = project
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    store = Store.from_settings(settings)
    seen: list[dict[int, str]] = []

    def on_progress(done: int, total: int, message: str) -> None:
        rows = {j.params["video_id"]: j for j in queue.list_jobs(store, kind="extract_features")}
        seen.append({vid: j.status for vid, j in rows.items()})
        if done == 1:  # the app's Cancel on the last video's row, still waiting for the one slot
            assert rows[ids[-1]].status == "running" and rows[ids[-1]].message == "waiting for a Ray slot"
            queue.request_cancel(store, rows[ids[-1]].id)

    # a worker reaping with a short stale timeout meanwhile: rows waiting for the slot, and rows
    # handed to an actor that is still starting, must stay alive (the command heartbeats them)
    stop, reaped = threading.Event(), []

    def reaper() -> None:
        own = Store.from_settings(settings)
        while not stop.wait(0.5):
            reaped.extend(queue.reap_stale(own, timeout=6.0))
        own.close()

    thread = threading.Thread(target=reaper, daemon=True)
    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False)
    thread.start()
    try:
        out = extract_project(
            settings, pid, request=_request(tiny_weights), engine="ray", slots=1, progress=on_progress
        )
    finally:
        stop.set()
        thread.join()
        ray.shutdown()
    assert reaped == []
    assert out.slots == 1 and out.cancelled == (ids[-1],) and not out.failures
    assert sorted(r.video_id for r in out.results) == ids[:-1]
    assert seen[0] == {ids[0]: "done", ids[1]: "running", ids[2]: "running", ids[3]: "running"}
    assert out.job_ids is not None
    assert queue.get_job(store, out.job_ids[ids[-1]]).status == "cancelled"
    assert store.get_video_features(ids[-1]) is None
    store.close()
