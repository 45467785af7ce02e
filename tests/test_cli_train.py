"""``otstudio train`` / ``otstudio propose`` end to end: a video ingested and its features extracted
with a ViT-S-32 checkpoint file (random weights written by the test, given in
``OTSTUDIO_CLIP_WEIGHTS``); training uses that model's own text tower, and a text tower of other
weights is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from otcore.cli import main
from otcore.jobs import queue
from otcore.jobs.worker import run_job
from otcore.service import add_video, open_store
from otcore.settings import load_settings
from otcore.store import EditLog
from otcore.video.clip_cache import clear_clip_cache
from tests.video.video_testutil import write_video

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.slow]

MODEL = "ViT-S-32"


def _weights(path: Path, seed: int) -> Path:
    import open_clip

    torch.manual_seed(seed)
    torch.save(open_clip.create_model(MODEL, pretrained=None).state_dict(), path)
    return path


@pytest.fixture()
def project(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OTSTUDIO_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("OTSTUDIO_CLIP_MODEL", MODEL)
    monkeypatch.setenv("OTSTUDIO_CLIP_PRETRAINED", "")
    weights = _weights(tmp_path / "vit-s-32.pt", 0)
    monkeypatch.setenv("OTSTUDIO_CLIP_WEIGHTS", str(weights))
    clear_clip_cache()
    settings = load_settings()
    store = open_store(settings)
    p = store.create_project("P")
    for name in ("a.mp4", "b.mp4"):
        src = write_video(tmp_path / name, n=120 if name == "a.mp4" else 96, rate=6)
        added = add_video(store, settings, p.id, src)
        job = queue.claim_next(store, "test", kinds=["extract_features"])
        assert job is not None and job.id == added.job_id
        assert run_job(store, settings, job, "test") == "done"
    a, b = store.list_videos(p.id)
    log = EditLog(store)
    log.add_segment(a.id, "jump", 2.0, 6.0)
    log.add_segment(a.id, "swing", 10.0, 15.0)
    yield settings, store, p, a, b, tmp_path
    store.close()
    clear_clip_cache()


def test_train_uses_the_features_own_text_tower(project, capsys) -> None:
    settings, store, p, a, b, _ = project
    art = store.get_video_features(a.id)
    assert art is not None and art.meta["model_id"].startswith(f"{MODEL}/")
    assert main(["train", "--project", "P", "--epochs", "3"]) == 0
    out = capsys.readouterr()
    last = out.out.strip().splitlines()[-1]
    assert last.startswith("trained plot-tal: labels=2 marks=2 text_tower=ViT-S-32/"), last
    assert "proposals=" in last and "seconds=" in last
    assert "%" in out.err  # the progress bar
    model = store.list_artifacts("fewshot_model")[0]
    assert model.meta["text_tower"].startswith(f"{MODEL}/")
    assert model.meta["text_weights_id"] == art.meta["weights_id"] == model.meta["features_weights_id"]
    # the proposals never lie over marked time
    for seg in EditLog(store).segments(a.id, sources=("predicted",)):
        assert not (
            seg.start < 6.0
            and seg.end > 2.0
            and min(seg.end, 6.0) - max(seg.start, 2.0) > 0.5 * (seg.end - seg.start)
        )


def test_text_tower_of_other_weights_is_refused(project, capsys, monkeypatch) -> None:
    settings, store, p, a, b, tmp = project
    before = EditLog(store).segments(b.id)
    models_before = [x.id for x in store.list_artifacts("fewshot_model")]
    monkeypatch.setenv("OTSTUDIO_CLIP_WEIGHTS", str(_weights(tmp / "other.pt", 1)))
    assert main(["train", "--project", "P", "--epochs", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "extracted with ViT-S-32/" in err and "configured CLIP is ViT-S-32" in err, err
    assert EditLog(store).segments(b.id) == before
    assert [x.id for x in store.list_artifacts("fewshot_model")] == models_before


def test_propose_zeroshot_runs_with_clip_weights(project, capsys) -> None:
    settings, store, p, a, b, _ = project
    assert main(["propose", "--project", "P"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("proposed zeroshot: labels=2 text_tower=ViT-S-32/"), last


def test_unknown_project_is_one_line(project, capsys) -> None:
    assert main(["train", "--project", "nope"]) == 2
    assert capsys.readouterr().err.strip() == "otstudio train: no project named 'nope'"
