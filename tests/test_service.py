"""The shared verbs: adding videos (good and bad), the demo project, encoder choice, features."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from otcore import service
from otcore.settings import load_settings
from otcore.types import VideoFeatures
from otcore.video.errors import VideoError


@pytest.fixture()
def env(data_dir: Path):
    settings = load_settings(data_dir)
    store = service.open_store(settings)
    project = store.create_project("p")
    return settings, store, project


def test_add_video_stores_probe_frame_times_and_queues_extraction(env, shared_data: Path):
    settings, store, project = env
    added = service.add_video(store, settings, project.id, shared_data / "videos" / "demo_demo.mp4")
    v = added.video
    assert not added.duplicate and added.job_id is not None
    assert v.duration and v.duration > 0 and v.fps and v.fps > 0
    stored = settings.data_dir / v.path
    assert stored.is_file() and stored.name.startswith(v.sha256)
    times = np.load(settings.data_dir / v.frame_times_path)
    assert len(times) == v.n_frames and np.all(np.diff(times) > 0)
    from otcore.jobs.queue import get_job

    job = get_job(store, added.job_id)
    assert job.kind == "extract_features" and job.params["video_id"] == v.id and job.status == "queued"


def test_same_file_twice_is_a_duplicate_and_changes_nothing(env, shared_data: Path):
    settings, store, project = env
    src = shared_data / "videos" / "demo_demo.mp4"
    first = service.add_video(store, settings, project.id, src)
    with open(src, "rb") as fh:
        again = service.add_video(store, settings, project.id, fh, "renamed.mp4")
    assert again.duplicate and again.video.id == first.video.id and again.job_id is None
    assert len(store.list_videos(project.id)) == 1


@pytest.mark.parametrize(
    "name,content",
    [("empty.mp4", b""), ("notes.mp4", b"this is text, not a video\n" * 50), ("../../etc/passwd.mp4", None)],
)
def test_bad_inputs_raise_clear_errors_and_keep_what_is_stored(
    env, shared_data: Path, tmp_path: Path, name, content
):
    settings, store, project = env
    good = service.add_video(store, settings, project.id, shared_data / "videos" / "demo_demo.mp4")
    before = sorted(p.name for p in settings.videos_dir.iterdir())
    if content is None:  # a real video under a path-trick name: stored under its hash, name sanitised
        added = service.add_video(store, settings, project.id, shared_data / "videos" / "example.avi", name)
        assert "/" not in added.video.filename and ".." not in added.video.filename
        assert (settings.data_dir / added.video.path).resolve().parent == settings.videos_dir.resolve()
        return
    src = tmp_path / "bad.bin"
    src.write_bytes(content)
    with pytest.raises(VideoError) as err:
        service.add_video(store, settings, project.id, src, name)
    assert str(err.value)
    assert sorted(p.name for p in settings.videos_dir.iterdir()) == before
    assert [v.id for v in store.list_videos(project.id)] == [good.video.id]


def test_truncated_video_is_refused(env, shared_data: Path, tmp_path: Path):
    settings, store, project = env
    data = (shared_data / "videos" / "demo_demo.mp4").read_bytes()
    src = tmp_path / "cut.mp4"
    src.write_bytes(data[: len(data) // 3])
    with pytest.raises(VideoError):
        service.add_video(store, settings, project.id, src)
    assert store.list_videos(project.id) == []


def test_demo_project_is_created_once(data_dir: Path):
    settings = load_settings(data_dir)
    store = service.open_store(settings)
    p1 = service.ensure_demo_project(store, settings)
    p2 = service.ensure_demo_project(store, settings)
    assert p1.id == p2.id and p1.name == service.DEMO_PROJECT
    videos = store.list_videos(p1.id)
    assert len(videos) == 1 and videos[0].duration > 4
    assert {lab.name for lab in store.list_labels(p1.id)} == {"emerge", "stretch"}
    from otcore.store import EditLog

    segs = EditLog(store).segments(videos[0].id)
    assert [(s.label, s.source) for s in segs] == [("emerge", "manual"), ("stretch", "manual")]
    assert segs[0].end == pytest.approx(1.6, abs=0.04) and segs[1].end == pytest.approx(4.4, abs=0.04)


def test_encoder_falls_back_to_offline_weights_with_a_reason(data_dir: Path, monkeypatch):
    monkeypatch.setenv("OTSTUDIO_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(data_dir / "hf"))
    settings = load_settings(data_dir)
    choice = service.choose_encoder(settings)
    assert choice.offline_fallback and "ViT-B-32" in choice.message
    assert Path(choice.weights_file).is_file()
    # the file is real open_clip weights of the tiny architecture, loadable by the real path
    from otcore.video.encoders import load_clip

    enc = load_clip(choice.model, choice.pretrained, weights_file=choice.weights_file, device="cpu")
    out = enc.encode_images(np.zeros((2, 40, 50, 3), dtype=np.uint8))
    assert out.shape == (2, enc.embed_dim) and torch.isfinite(out).all()
    with pytest.raises(Exception, match="ViT-B-32"):
        service.choose_encoder(settings, allow_fallback=False)


def test_load_video_features_reads_the_linked_artifact(env, shared_data: Path):
    settings, store, project = env
    v = service.add_video(
        store, settings, project.id, shared_data / "videos" / "demo_demo.mp4", extract=False
    ).video
    assert service.load_video_features(store, settings, v.id) is None
    from otcore.video.features import save_features_file

    feats = VideoFeatures(torch.randn(7, 16), fps=2.0, model_id="m/x")
    path = save_features_file(settings.features_dir / "f.npz", feats)
    art = store.add_artifact(
        "features", "k1", str(path.relative_to(settings.data_dir)), {"model_id": "m/x", "fps": 2.0}
    )
    store.set_video_features(v.id, art.id)
    got = service.load_video_features(store, settings, v.id)
    assert got is not None and got.fps == 2.0 and got.model_id == "m/x"
    assert torch.allclose(got.features, feats.features, atol=1e-2)


def test_import_folder_reports_each_file(env, shared_data: Path, tmp_path: Path):
    settings, store, project = env
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(shared_data / "videos" / "example.avi", folder / "a.avi")
    (folder / "b.mp4").write_bytes(b"\x00" * 1000)
    results = list(service.import_folder(store, settings, project.id, folder, extract=False))
    assert len(results) == 2
    ok = {src.name: (added, err) for src, added, err in results}
    assert ok["a.avi"][0] is not None and ok["a.avi"][1] is None
    assert ok["b.mp4"][0] is None and ok["b.mp4"][1]
