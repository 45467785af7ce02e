"""The job codec: typed requests/results to and from the row's JSON, with one-line errors."""

from __future__ import annotations

import pytest

from otcore.jobs import queue
from otcore.jobs.fewshot import TrainRequest, TrainResult, VideoPredictions
from otcore.jobs.phases import WeakRequest
from otcore.jobs.spec import JobSpecError, from_json, to_json
from otcore.jobs.worker import run_worker
from otcore.settings import Settings
from otcore.store import Store


def test_round_trip_of_nested_results() -> None:
    result = TrainResult(
        model_path="models/m.pt",
        artifact_id=3,
        method="plot-tal",
        labels=("jump", "swing"),
        n_train_videos=1,
        n_segments=2,
        train_seconds=0.5,
        history=({"epoch": 1, "loss": 0.3},),
        final_loss=0.3,
        predictions={7: VideoPredictions(n_segments=4, plans_path="results/x.npz")},
    )
    row = to_json(result)
    assert row["predictions"] == {"7": {"n_segments": 4, "plans_path": "results/x.npz"}}  # None left out
    assert row["labels"] == ["jump", "swing"]
    assert from_json(TrainResult, row) == TrainResult(
        **{**result.__dict__, "history": ({"epoch": 1.0, "loss": 0.3},)}
    )


def test_requests_fill_defaults_and_convert_keys() -> None:
    req = from_json(WeakRequest, {"project_id": 2, "video_labels": {"5": ["pour"]}})
    assert req == WeakRequest(project_id=2, video_labels={5: ("pour",)})
    assert to_json(TrainRequest(method="coop", labels=("a",))) == {
        "method": "coop",
        "labels": ["a"],
        "predict": True,
    }


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"epochs": "many"}, "TrainRequest.epochs: expected a whole number"),
        ({"labels": "jump"}, "TrainRequest.labels: expected a list"),
        ({"epoch": 5}, "unknown parameter(s) epoch"),
        ({"predict": "no"}, "expected true or false"),
    ],
)
def test_bad_parameters_are_named(params: dict, words: str) -> None:
    with pytest.raises(JobSpecError, match=words.replace("(", r"\(").replace(")", r"\)")):
        from_json(TrainRequest, params)


def test_worker_fails_a_job_with_bad_parameters_without_running_it(
    store: Store, any_settings: Settings
) -> None:
    jid = queue.submit(store, "sleep", {"steps": "three"})
    assert run_worker(any_settings, once=True, store=store) == 1
    job = queue.get_job(store, jid)
    assert job.status == "failed" and "SleepRequest.steps: expected a whole number" in job.message
    assert "\n" not in job.message
