"""The train_fewshot job encodes a label's stored description instead of its name (PLOT-TAL's
verbose class text), on the tiny text tower: what the prompt learner tokenised is checked."""

from __future__ import annotations

import pytest

from otcore.jobs import queue
from otcore.jobs.context import JobContext
from otcore.jobs.worker import execute
from otcore.methods import prompts
from otcore.settings import Settings
from otcore.store import EditLog, Store
from tests.jobs.fewshot_data import LAYOUT_A
from tests.jobs.fewshot_data import features as _features

pytestmark = pytest.mark.usefixtures("one_thread")

SWING = "someone swings a bat and hits the ball"


@pytest.fixture()
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], list[list[int]]]]:
    """Every prompt learner built: the class texts it was given and the token ids it encodes."""
    seen: list[tuple[list[str], list[list[int]]]] = []
    init = prompts.PromptLearner.__init__

    def spy(self: prompts.PromptLearner, class_names: list[str], *args: object, **kwargs: object) -> None:
        init(self, class_names, *args, **kwargs)  # type: ignore[arg-type]
        step = self.n_prompts
        seen.append((list(class_names), [row.tolist() for row in self.tokens[::step]]))

    monkeypatch.setattr(prompts.PromptLearner, "__init__", spy)
    return seen


def _project(store: Store, settings: Settings, video_with_features) -> int:
    p = store.create_project("Described")
    a = video_with_features(
        store,
        settings,
        p.id,
        "a.mp4",
        _features(0, LAYOUT_A),
    )
    log = EditLog(store)
    log.add_segment(a.id, "jump", 3.0, 5.0)
    log.add_segment(a.id, "swing", 8.0, 11.0)
    swing = next(lb for lb in store.list_labels(p.id) if lb.name == "swing")
    store.set_label_description(swing.id, SWING + ".")
    return p.id


def _train(store: Store, settings: Settings, pid: int, params: dict) -> dict:
    jid = queue.submit(store, "train_fewshot", params, project_id=pid)
    return execute(JobContext(store, settings, jid), "train_fewshot", params)


@pytest.mark.parametrize("method", ["plot-tal", "sot-glp"])
def test_training_encodes_the_stored_description(
    settings: Settings, video_with_features, recorded, method: str
) -> None:
    store = Store.from_settings(settings)
    pid = _project(store, settings, video_with_features)
    out = _train(store, settings, pid, {"method": method, "epochs": 2, "levels": 2, "predict": False})
    assert out["labels"] == ["jump", "swing"] and out["described"] == ["swing"]
    meta = store.get_artifact(out["artifact_id"]).meta
    assert meta["described"] == ["swing"]
    # the detector's prompts; with SOT-GLP also its global and local prompts (+ background)
    expected = ["jump", SWING] if method == "plot-tal" else ["jump", SWING, "background"]
    assert recorded[0][0] == ["jump", SWING]
    assert all(texts == expected for texts, _ in recorded[1:]) and len(recorded) == (
        1 if method == "plot-tal" else 3
    )
    tower = prompts.load_text_tower("otstudio-tiny", seed=0)
    plain = tower.tokenizer(["X X X X swing."])[0].tolist()
    verbose = tower.tokenizer([f"X X X X {SWING}."])[0].tolist()
    assert recorded[0][1][1] == verbose != plain  # the description's tokens, not the name's
    store.close()


def test_an_explicit_empty_map_encodes_the_names(settings: Settings, video_with_features, recorded) -> None:
    store = Store.from_settings(settings)
    pid = _project(store, settings, video_with_features)
    out = _train(
        store,
        settings,
        pid,
        {"method": "coop", "epochs": 2, "levels": 2, "predict": False, "descriptions": {}},
    )
    assert out["described"] == [] and recorded[0][0] == ["jump", "swing"]
    store.close()
