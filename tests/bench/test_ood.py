"""`otstudio eval ood`: AUROC / FPR@95TPR against hand-computed values, the split, and the run on real data."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from otcore.bench.gym import load_clips, make_protocol
from otcore.bench.ood import auroc, fpr_at_tpr, main, ood_episode


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _pairwise_auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Reference: the fraction of (ID, OOD) pairs ordered correctly, ties one half."""
    tot = 0.0
    for p, n in itertools.product(pos, neg):
        tot += 1.0 if p > n else 0.5 if p == n else 0.0
    return tot / (len(pos) * len(neg))


def test_auroc_hand_cases() -> None:
    assert auroc([0.9, 0.8, 0.4], [0.5, 0.3]) == pytest.approx(5 / 6)
    assert auroc([1.0, 1.0], [1.0, 0.0]) == pytest.approx(0.75)
    assert auroc([1.0, 2.0], [3.0, 4.0]) == 0.0
    assert auroc([3.0, 4.0], [1.0, 2.0]) == 1.0
    rng = np.random.default_rng(0)
    for _ in range(20):
        pos = rng.integers(0, 6, size=int(rng.integers(1, 12))).astype(float)
        neg = rng.integers(0, 6, size=int(rng.integers(1, 12))).astype(float)
        assert auroc(pos, neg) == pytest.approx(_pairwise_auroc(pos, neg))
    with pytest.raises(ValueError):
        auroc([], [1.0])


def test_fpr_at_95_tpr_hand_cases() -> None:
    ids = np.arange(1, 21, dtype=float)  # 95 % of 20 = 19 kept: threshold = 2
    assert fpr_at_tpr(ids, [0.0, 1.0, 2.0, 3.0]) == pytest.approx(0.5)
    assert fpr_at_tpr(ids, [0.0, 1.5]) == 0.0
    assert fpr_at_tpr([5.0], [5.0, 4.0]) == pytest.approx(0.5)  # one ID score: it is the threshold
    assert fpr_at_tpr(ids, [30.0, 40.0]) == 1.0


def test_episode_matches_the_fewshot_protocol(shared_data: Path) -> None:
    clips = load_clips(shared_data / "gym_i3d")
    ep = ood_episode(clips, 2, 3)
    p = make_protocol(clips, 2, 3)
    assert ep.known == p.target_classes and ep.unknown == p.other_classes
    marked = [n for seq in p.train for n, lab, _, _ in seq.clips if lab in p.target_classes]
    assert sorted(c.name for c in ep.support) == sorted(marked)
    assert all(sum(c.label == k for c in ep.support) == 2 for k in ep.known)
    names_support = {c.name for c in ep.support}
    names_test = {c.name for c in ep.id_test + ep.ood_test}
    assert not names_support & names_test
    assert {c.label for c in ep.ood_test} == set(ep.unknown)
    assert {c.label for c in ep.id_test} == set(ep.known)
    # ID test = the target clips of the protocol's test sequences (each exactly once)
    proto_test = sorted(n for seq in p.test for n, lab, _, _ in seq.clips if lab in ep.known)
    assert sorted(c.name for c in ep.id_test) == proto_test


def test_eval_ood_runs_on_real_data(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--data", str(shared_data / "gym_i3d"), "--shots", "1", "--seeds", "0", "--epochs", "5"])
    assert rc == 0
    out = capsys.readouterr().out.strip().splitlines()
    num = r"\d+\.\d±\d+\.\d"
    assert re.fullmatch(
        rf"ood sot-glp: AUROC={num} FPR95={num} msp_AUROC={num} energy_AUROC={num}", out[-1]
    ), out[-1]
    assert any(line.startswith("sot-glp") for line in out)


def test_eval_ood_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--data", str(tmp_path / "missing")])
    assert exc.value.code == 2
    assert "no such folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--data", str(tmp_path)])  # no clips
    assert "no <class>_<n>.npy clips" in capsys.readouterr().err


def test_eval_lists_ood(capsys: pytest.CaptureFixture[str]) -> None:
    from otcore.cli import eval_main

    assert eval_main(["--help"]) == 0
    assert "ood" in capsys.readouterr().out
