"""Model files are data: saved as state dicts + JSON, loaded with weights_only, planted pickles refused."""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from otcore.methods.model_files import MODEL_FORMAT, ModelFileError, read_model_file
from otcore.methods.plot_tal import (
    PlotTALConfig,
    TrainVideo,
    fit,
    load_model,
    predict,
    save_model,
    with_method,
)
from otcore.types import Segment

pytestmark = pytest.mark.usefixtures("one_thread")


def _train() -> list[TrainVideo]:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(24, 16, generator=gen)
    x[4:9, :4] += 3.0
    x[14:20, 4:8] += 3.0
    return [TrainVideo(x, 2.0, [Segment("jump", 2.0, 4.5), Segment("swing", 7.0, 10.0)], "a")]


class _Plant:
    """Unpickling this object calls ``os.system`` (what a planted model file would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def test_saved_file_is_tensors_and_json(tmp_path: Path) -> None:
    model = fit(
        _train(), ["jump", "swing"], with_method(PlotTALConfig(epochs=3, levels=2, n_prompts=2), "sot-glp")
    )
    path = save_model(model, tmp_path / "m.pt", meta={"project_id": 3, "labels": ["jump", "swing"]})
    blob = torch.load(path, weights_only=True)  # the restricted reader accepts it
    assert blob["format"] == MODEL_FORMAT
    header = json.loads(blob["header"])
    assert header["class_names"] == ["jump", "swing"] and header["meta"]["project_id"] == 3
    assert header["glp"] is not None and "state" not in header["glp"]
    _, tensors = read_model_file(path)
    assert set(tensors) == {"state", "glp"}
    assert all(isinstance(v, torch.Tensor) for g in tensors.values() for v in g.values())
    again = load_model(path)
    a = predict(model, _train()[0].features, 2.0)
    b = predict(again, _train()[0].features, 2.0)
    assert [(s.label, round(s.start, 4), round(s.score, 4)) for s in a.segments] == [
        (s.label, round(s.start, 4), round(s.score, 4)) for s in b.segments
    ]


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_planted_pickle_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    # 1. the zip archive torch.save writes, with a code-running object beside real-looking fields
    planted = tmp_path / "planted.pt"
    torch.save({"format": MODEL_FORMAT, "header": "{}", "tensors": {}, "x": _Plant(marker)}, planted)
    # 2. a bare pickle stream (torch.load's legacy path)
    bare = tmp_path / "bare.pt"
    bare.write_bytes(pickle.dumps(_Plant(marker)))
    # the marker proves the payload does run when unpickled without restriction
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Plant(probe)))
    assert probe.exists()
    for path in (planted, bare):
        with pytest.raises(ModelFileError, match="refusing to load"):
            load_model(path)
        assert not marker.exists()


def test_bad_files_give_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelFileError):
        load_model(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ModelFileError, match="not an otstudio model file"):
        load_model(other)


def test_earlier_plain_layout_still_loads(tmp_path: Path) -> None:
    """A file of the earlier single-dict layout holds only plain data, so the restricted reader takes it."""
    model = fit(_train(), ["jump", "swing"], PlotTALConfig(epochs=3, levels=2, n_prompts=2))
    old = {
        "config": asdict(model.config),
        "class_names": model.class_names,
        "in_dim": model.in_dim,
        "embed_dim": model.embed_dim,
        "prompt_shape": list(model.prompts().shape),
        "state": model.state_dict(),
        "glp": None,
        "meta": {},
    }
    path = tmp_path / "old.pt"
    torch.save(old, path)
    again = load_model(path)
    assert again.class_names == model.class_names
