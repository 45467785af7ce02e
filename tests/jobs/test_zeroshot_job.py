"""The ``propose_zeroshot`` job on a tiny CLIP that the test trains itself (text and image really
align), through the store, the job seam and the edit log; and its refusal with the offline encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from otcore.jobs.clip_pair import EncoderMismatch, one_encoder
from otcore.service import ZeroShotRequest, ZeroShotResult, job_result, load_prediction, run_foreground
from otcore.settings import Settings
from otcore.store import EditLog, Store
from otcore.video.clip_cache import ClipIdentity, clear_clip_cache
from tests.tiny_clip import synthetic_video, train_tiny_clip

pytestmark = [pytest.mark.usefixtures("one_thread")]

FPS = 2.0


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    return train_tiny_clip(tmp_path_factory.mktemp("tinyclip") / "otstudio-tiny.pt", steps=250)


def _video(seed: int) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    return synthetic_video(seed, FPS)


def _add(store: Store, settings: Settings, pid: int, name: str, feats: np.ndarray, meta: dict) -> int:
    video = store.add_video(
        pid,
        name,
        f"videos/{name}",
        name.encode().hex().ljust(64, "0")[:64],
        len(feats) / FPS,
        25.0,
        int(len(feats) / FPS * 25),
        32,
        32,
    )
    path = settings.features_dir / f"{name}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, features=feats, fps=np.float64(FPS))
    art = store.add_artifact(
        "features", f"key-{name}", str(path.relative_to(settings.data_dir)), {"fps": FPS, **meta}
    )
    store.set_video_features(video.id, art.id, model_id=meta.get("model_id"), fps=FPS)
    return video.id


@pytest.mark.slow
def test_zeroshot_job_proposes_the_named_spans(settings: Settings, tiny_weights: Path, monkeypatch) -> None:
    from otcore.video.encoders import load_clip

    monkeypatch.setenv("OTSTUDIO_CLIP_MODEL", "otstudio-tiny")
    monkeypatch.setenv("OTSTUDIO_CLIP_WEIGHTS", str(tiny_weights))
    settings = Settings(
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        clip_model="otstudio-tiny",
        clip_pretrained="",
        clip_weights_file=str(tiny_weights),
    )
    clear_clip_cache()
    enc = load_clip("otstudio-tiny", None, weights_file=tiny_weights, device="cpu")
    store = Store.from_settings(settings)
    p = store.create_project("Z")
    for name in ("green_square", "red_square", "blue_disc"):
        store.ensure_label(p.id, name)
    frames, truth = _video(21)
    feats = enc.encode_images(frames).numpy()
    vid = _add(
        store, settings, p.id, "z.mp4", feats, {"model_id": enc.model_id, "weights_id": enc.weights_id}
    )
    run = run_foreground(store, settings, ZeroShotRequest(project_id=p.id), p.id)
    assert run.job.status == "done", run.job.message
    result = job_result(run.job, ZeroShotResult)
    assert result is not None and result.text_tower == enc.model_id
    proposals = EditLog(store).segments(vid, sources=("predicted",))
    assert result.n_proposals == len(proposals) > 0
    for label, start, end in truth:
        best = max(
            (s for s in proposals if s.label == label),
            key=lambda s: min(s.end, end) - max(s.start, start),
            default=None,
        )
        assert best is not None, f"no proposal for {label}: {proposals}"
        inter = max(0.0, min(best.end, end) - max(best.start, start))
        assert inter / (max(best.end, end) - min(best.start, start)) >= 0.5
        assert best.score is not None and 0 < best.score <= 1
    saved = load_prediction(settings, result.predictions[vid].plans_path)
    assert saved.frame_scores is not None and saved.frame_scores.shape == (len(frames), 4)
    store.close()
    clear_clip_cache()


@pytest.mark.slow
def test_zeroshot_job_encodes_the_stored_descriptions(
    settings: Settings, tiny_weights: Path, monkeypatch
) -> None:
    """A label named "dax" (no meaning to the text tower) with the stored description "a green
    square" is proposed on the green square; the request's ``descriptions={}`` encodes the names."""
    from otcore.video.encoders import load_clip

    monkeypatch.setenv("OTSTUDIO_CLIP_MODEL", "otstudio-tiny")
    monkeypatch.setenv("OTSTUDIO_CLIP_WEIGHTS", str(tiny_weights))
    settings = Settings(
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        clip_model="otstudio-tiny",
        clip_pretrained="",
        clip_weights_file=str(tiny_weights),
    )
    clear_clip_cache()
    enc = load_clip("otstudio-tiny", None, weights_file=tiny_weights, device="cpu")
    store = Store.from_settings(settings)
    p = store.create_project("D")
    dax = store.ensure_label(p.id, "dax")
    store.ensure_label(p.id, "blue_disc")
    store.set_label_description(dax.id, "a green square")
    frames, truth = _video(22)
    green = next((s, e) for label, s, e in truth if label == "green_square")
    feats = enc.encode_images(frames).numpy()
    vid = _add(
        store, settings, p.id, "d.mp4", feats, {"model_id": enc.model_id, "weights_id": enc.weights_id}
    )

    def dax_on_green(request: ZeroShotRequest) -> tuple[float, tuple[str, ...]]:
        run = run_foreground(store, settings, request, p.id)
        assert run.job.status == "done", run.job.message
        result = job_result(run.job, ZeroShotResult)
        assert result is not None
        spans = [s for s in EditLog(store).segments(vid, sources=("predicted",)) if s.label == "dax"]
        inter = [max(0.0, min(s.end, green[1]) - max(s.start, green[0])) for s in spans]
        tious = [i / (max(s.end, green[1]) - min(s.start, green[0])) for s, i in zip(spans, inter)]
        return max(tious, default=0.0), result.described

    best, described = dax_on_green(ZeroShotRequest(project_id=p.id))
    assert best >= 0.5 and described == ("dax",)
    best, described = dax_on_green(ZeroShotRequest(project_id=p.id, descriptions={}))
    assert best < 0.5 and described == ()
    store.close()
    clear_clip_cache()


def test_zeroshot_with_non_clip_features_says_it_needs_weights(settings: Settings) -> None:
    store = Store.from_settings(settings)
    p = store.create_project("Z")
    store.ensure_label(p.id, "jump")
    vid = _add(
        store, settings, p.id, "i3d.mp4", np.random.rand(20, 8).astype(np.float32), {"model_id": "i3d"}
    )
    EditLog(store).replace_predictions(vid, [], method="x")
    run = run_foreground(store, settings, ZeroShotRequest(project_id=p.id), p.id)
    assert run.job.status == "failed"
    assert "need CLIP weights" in run.job.message and "label names carry no meaning" in run.job.message
    store.close()


def test_two_encoders_are_refused_with_the_videos_named() -> None:
    a, b = ClipIdentity("ViT-B-32/openai", "a" * 64), ClipIdentity("otstudio-tiny/x", "b" * 64)
    assert one_encoder([("v1", a), ("v2", a)]) == a
    with pytest.raises(EncoderMismatch, match="different encoders.*v1.*v2"):
        one_encoder([("v1", a), ("v2", b)])
