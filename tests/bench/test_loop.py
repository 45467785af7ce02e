"""``otstudio eval loop`` on a small synthetic clip folder: the simulated person goes through the
app's store, train jobs and edit log; effort is measured against all-manual."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from otcore.bench.gym import load_clips
from otcore.bench.loop import LoopConfig, gym_episode, main, run_episode

pytestmark = [pytest.mark.usefixtures("one_thread")]


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    for k, name in enumerate(["squat", "lunge", "plank", "jump", "row", "curl"]):
        for i in range(12):
            x = rng.normal(0, 0.3, size=(int(rng.integers(4, 8)), 16)).astype(np.float32)
            x[:, k * 2 : k * 2 + 2] += 3.0
            np.save(root / f"{name}_{i}.npy", x)
    return root


def test_loop_reviews_every_video_and_saves_work(clip_folder: Path) -> None:
    ep = gym_episode(load_clips(clip_folder), shots=2, seed=0, n_target=3)
    n_true = sum(len(v.truth) for v in ep.review)
    out = run_episode(
        ep,
        LoopConfig(method="prototype", order="uncertainty", epochs=10, min_score=0.3, retrain_every=2),
        seed=0,
    )
    assert out.accepted + out.marked == n_true  # every true segment ends accepted or marked
    assert out.accepted > 0 and out.n_initial == 2 * 3
    assert out.trainings == 1 + (len(ep.review) - 1) // 2
    spent = 3 * (out.n_initial + out.marked) + out.accepted + out.corrected + out.rejected
    assert out.effort == pytest.approx(spent / (3 * (out.n_initial + n_true)))
    # no proposal shown (threshold above every score): everything is marked by hand, effort 1
    none = run_episode(ep, LoopConfig(method="prototype", order="random", epochs=5, min_score=1.01), seed=0)
    assert none.accepted == none.rejected == 0 and none.marked == n_true
    assert none.effort == pytest.approx(1.0)


def test_loop_command_prints_tables_and_last_line(clip_folder: Path, capsys) -> None:
    code = main(
        [
            "--data",
            str(clip_folder),
            "--shots",
            "2",
            "--seeds",
            "0",
            "--choose-on",
            "1",
            "--method",
            "prototype",
            "--epochs",
            "5",
            "--n-target",
            "3",
            "--order",
            "uncertainty,sequential",
            "--retrain-every",
            "8",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("prototype: chose refine_steps=") and "on seeds [1]" in line for line in out)
    assert any(line.startswith("prototype uncertainty") for line in out)
    last = out[-1]
    assert last.startswith("loop prototype: effort=") and "sequential_order=" in last
    assert "manual=1.00 accepted=" in last


def test_choose_seeds_must_differ_from_reported(clip_folder: Path, capsys) -> None:
    assert main(["--data", str(clip_folder), "--seeds", "0", "--choose-on", "0"]) == 2
    assert "overlaps" in capsys.readouterr().err
