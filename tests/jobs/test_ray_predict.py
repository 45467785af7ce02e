"""``otstudio predict``: the project's model over every video, here (the worker's ``predict_fewshot``
job in the foreground) or on a local Ray (``ray.init(num_cpus=2)``): the same files and rows as the
worker writes, one ``predict_fewshot`` row whose progress reaches 1.0, cancel between videos, and
one clear line for bad input."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

from otcore.cli import main as cli_main
from otcore.jobs import queue
from otcore.jobs.ray_predict import predict_project
from otcore.jobs.worker import run_worker
from otcore.service import load_prediction
from otcore.settings import Settings
from otcore.store import EditLog, Store
from tests.jobs.fewshot_data import features as _features

pytestmark = pytest.mark.usefixtures("one_thread")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def project(settings: Settings, video_with_features):
    """Three videos with features, one without, and a prototype model trained by the worker."""
    store = Store.from_settings(settings)
    p = store.create_project("P")
    layouts = [
        [(None, 6), ("jump", 4), (None, 6), ("swing", 6), (None, 4)],
        [(None, 4), ("swing", 5), (None, 6), ("jump", 4), (None, 5)],
        [("jump", 5), (None, 8), ("swing", 5), (None, 4)],
    ]
    ids = [
        video_with_features(store, settings, p.id, f"v{i}.mp4", _features(i, lay)).id
        for i, lay in enumerate(layouts)
    ]
    bare = store.add_video(p.id, "bare.mp4", "videos/bare.mp4", "e" * 64, 10.0, 25.0, 250, 32, 24)
    log = EditLog(store)
    log.add_segment(ids[0], "jump", 3.0, 5.0)
    log.add_segment(ids[0], "swing", 8.0, 11.0)
    queue.submit(store, "train_fewshot", {"method": "prototype", "predict": False}, project_id=p.id)
    assert run_worker(settings, once=True, store=store) == 1
    (train,) = queue.list_jobs(store, kind="train_fewshot")
    assert train.status == "done", train.message
    yield store, p, ids, bare.id, str(train.result["model_path"])
    store.close()


def _written(store: Store, settings: Settings, job_id: int, ids: list[int]) -> dict[int, tuple]:
    """Per video: the active predicted segments and the saved prediction's arrays."""
    job = queue.get_job(store, job_id)
    out = {}
    for vid in ids:
        info = job.result["predictions"][str(vid)]
        segs = [
            (s.label, round(s.start, 6), round(s.end, 6), round(float(s.score), 6), s.method)
            for s in EditLog(store).segments(vid, sources=("predicted",))
        ]
        assert info["n_segments"] == len(segs)
        assert info["plans_path"] == f"results/fewshot_job{job_id}_video{vid}.npz"
        saved = load_prediction(settings, info["plans_path"])
        out[vid] = (
            segs,
            saved.frame_scores,
            {k: np.asarray(v) for k, v in saved.plans.items()},
            saved.class_names,
        )
    return out


def _same(a: dict[int, tuple], b: dict[int, tuple]) -> None:
    assert a.keys() == b.keys()
    for vid in a:
        assert a[vid][0] == b[vid][0] and a[vid][0], vid
        np.testing.assert_allclose(a[vid][1], b[vid][1], atol=1e-5)
        assert a[vid][2].keys() == b[vid][2].keys()
        for k in a[vid][2]:
            np.testing.assert_allclose(a[vid][2][k], b[vid][2][k], atol=1e-5)
        assert list(a[vid][3]) == list(b[vid][3])


def _worker_predict(store: Store, settings: Settings, pid: int, model: str) -> int:
    job_id = queue.submit(store, "predict_fewshot", {"model_path": model, "project_id": pid}, project_id=pid)
    assert run_worker(settings, once=True, store=store) == 1
    assert queue.get_job(store, job_id).status == "done"
    return job_id


def test_local_engine_is_the_worker_job_in_the_foreground(settings: Settings, project) -> None:
    store, p, ids, bare, model = project
    worker_job = _worker_predict(store, settings, p.id, model)
    expected = _written(store, settings, worker_job, ids)
    out = predict_project(settings, p.id, engine="local")
    assert out.status == "done" and out.job_id != worker_job
    row = queue.get_job(store, out.job_id)
    assert row.kind == "predict_fewshot" and row.status == "done" and row.progress == 1.0
    assert row.params == {"model_path": model, "project_id": p.id}
    assert out.predictions[bare].skipped == "no features"
    _same(_written(store, settings, out.job_id, ids), expected)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_bad_input_is_one_line_and_writes_nothing(
    settings: Settings, project, video_with_features, capsys: pytest.CaptureFixture[str]
) -> None:
    store, p, ids, bare, model = project
    before = len(queue.list_jobs(store))
    empty = store.create_project("untrained")
    video_with_features(store, settings, empty.id, "x.mp4", _features(5, [("jump", 6)]))
    no_feats = store.create_project("nofeatures")
    store.add_video(no_feats.id, "y.mp4", "videos/y.mp4", "f" * 64, 10.0, 25.0, 250, 32, 24)
    planted = settings.data_dir / "models" / "planted.pt"
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_bytes(b"not a model")
    cases = [
        (["--project", "nope"], "no project 'nope'"),
        (["--project", "untrained"], "no trained few-shot model"),
        (["--project", "nofeatures", "--model", model], "no video of this project has features"),
        (["--project", "P", "--model", "models/planted.pt"], "cannot load the model"),
        (["--project", "P", "--model", "models/missing.pt"], "no model file at"),
        (
            ["--project", "P", "--engine", "ray", "--address", f"127.0.0.1:{_free_port()}"],
            "no Ray cluster answers",
        ),
        (["--project", "P", "--engine", "ray", "--address", "nohost"], "is not HOST:PORT"),
        (["--project", "P", "--slots", "2"], "need --engine ray"),
    ]
    for args, message in cases:
        capsys.readouterr()
        assert cli_main(["predict", *args, "--data-dir", str(settings.data_dir)]) == 2, args
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, (args, err)
    assert len(queue.list_jobs(store)) == before  # no job row was written
    assert all(not EditLog(store).segments(v, sources=("predicted",)) for v in ids)


def test_cli_local_prints_the_summary(
    settings: Settings, project, capsys: pytest.CaptureFixture[str]
) -> None:
    store, p, ids, bare, model = project
    assert cli_main(["predict", "--project", "P", "--quiet", "--data-dir", str(settings.data_dir)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("predicted prototype: job=") and "status=done videos=4" in line


@pytest.fixture(scope="module")
def ray_two_cpus():
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'otstudio[ray]')")
    mp = pytest.MonkeyPatch()
    mp.setenv("PYTHONPATH", str(REPO))  # the actors import this checkout's otcore
    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False)
    yield ray
    ray.shutdown()
    mp.undo()


@pytest.mark.slow
def test_ray_engine_writes_what_the_worker_writes(settings: Settings, project, ray_two_cpus) -> None:
    store, p, ids, bare, model = project
    worker_job = _worker_predict(store, settings, p.id, model)
    expected = _written(store, settings, worker_job, ids)
    seen: list[tuple[int, int]] = []
    out = predict_project(settings, p.id, engine="ray", progress=lambda d, n, m: seen.append((d, n)))
    assert out.status == "done" and out.slots == 2, out.message
    assert seen == [(1, 3), (2, 3), (3, 3)]
    row = queue.get_job(store, out.job_id)
    assert row.kind == "predict_fewshot" and row.status == "done" and row.progress == 1.0
    assert row.params == {"model_path": model, "project_id": p.id}
    assert row.attempts == 1 and row.max_attempts == 1
    assert (
        row.result["method"] == "prototype"
        and row.result["predictions"][str(bare)]["skipped"] == "no features"
    )
    _same(_written(store, settings, out.job_id, ids), expected)


@pytest.mark.slow
def test_ray_engine_cancel_from_the_app_stops_between_videos(
    settings: Settings, project, ray_two_cpus
) -> None:
    store, p, ids, bare, model = project

    def cancel_after_first(done: int, total: int, message: str) -> None:
        if done == 1:
            (job,) = queue.list_jobs(store, kind="predict_fewshot", status="running")
            queue.request_cancel(store, job.id)  # what the app's Cancel button does

    out = predict_project(settings, p.id, engine="ray", slots=1, progress=cancel_after_first)
    row = queue.get_job(store, out.job_id)
    assert out.status == row.status == "cancelled"
    assert "cancelled after 1/3 videos" in row.message
    done = [vid for vid in ids if vid in out.predictions]
    assert len(done) == 1 and EditLog(store).segments(done[0], sources=("predicted",))
    assert all(not EditLog(store).segments(v, sources=("predicted",)) for v in ids if v not in done)


def test_a_bulk_row_is_never_taken_by_a_worker_and_fails_when_its_driver_dies(settings: Settings) -> None:
    from otcore.jobs.fewshot import PredictRequest
    from otcore.jobs.ray_engine import claim_rows

    store = Store.from_settings(settings)
    p = store.create_project("P")
    (job_id,) = claim_rows(store, [PredictRequest(model_path="m.pt", project_id=p.id)], p.id, "bulk:x")
    row = queue.get_job(store, job_id)
    assert (row.status, row.attempts, row.max_attempts, row.worker_id) == ("running", 1, 1, "bulk:x")
    assert queue.claim_next(store, "w1") is None  # no worker takes it
    assert queue.reap_stale(store) == []  # this process (its driver) is alive
    store.jobs.update_running(job_id, "bulk:x", worker_pid=2**22 + 12345)  # a driver that died
    assert queue.reap_stale(store) == [job_id]
    row = queue.get_job(store, job_id)
    assert row.status == "failed" and "is gone" in (row.message or "")  # failed, not queued again
    store.close()
