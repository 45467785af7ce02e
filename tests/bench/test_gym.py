"""The seeded gym protocol: exact boundaries, disjoint splits, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from otcore.bench.gym import classification_episode, load_clips, make_protocol


@pytest.fixture(scope="module")
def clips(shared_data):
    return load_clips(shared_data / "gym_i3d")


def test_protocol_is_seeded_and_exact(clips):
    p = make_protocol(clips, shots=5, seed=3)
    q = make_protocol(clips, shots=5, seed=3)
    assert p.target_classes == q.target_classes
    assert np.array_equal(p.train[0].features, q.train[0].features)
    by_name = {c.name: c for c in clips}
    # boundaries are exact: the rows of each clip are the clip's features
    for seq in p.train + p.test:
        for name, _, s, e in seq.clips:
            assert np.array_equal(seq.features[s:e], by_name[name].features)
    # K marked segments per target class, nothing else labelled
    labels = [s.label for _, s in p.support()]
    assert sorted(set(labels)) == p.target_classes
    assert all(labels.count(k) == 5 for k in p.target_classes)
    train_names = {n for seq in p.train for n, *_ in seq.clips}
    test_names = {n for seq in p.test for n, *_ in seq.clips}
    assert not train_names & test_names
    assert all(s.label in p.target_classes for seq in p.test for s in seq.segments)
    assert make_protocol(clips, shots=1, seed=3).test[0].segments == p.test[0].segments


def test_classification_episode(clips):
    ep = classification_episode(clips, shots=5, seed=0)
    assert len(ep.classes) == 21
    assert len(ep.support) == 5 * 21
    assert not {c.name for c in ep.support} & {c.name for c in ep.query}
