"""The label-free evaluations run on the real data and print their summary lines."""

from __future__ import annotations

import re

import numpy as np
import pytest

from otcore.bench import align as align_bench
from otcore.bench import decode as decode_bench
from otcore.bench import segment as segment_bench
from otcore.bench import weak as weak_bench
from otcore.bench.data import find_score_folders, load_score_folder, load_segmentation_folder
from otcore.bench.seeds import parse_seeds

pytestmark = pytest.mark.usefixtures("one_thread")


def _last(capsys) -> str:
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_loaders_read_the_real_folders(shared_data):
    data = load_segmentation_folder(shared_data / "breakfast_cte")  # root or dummy_data/ both work
    vids = data["coffee"]
    assert len(vids) == 5 and sum(v.n_frames for v in vids) == 3350
    assert all(v.features.shape[1] == 64 and len(v.labels) == v.n_frames for v in vids)
    folders = find_score_folders(shared_data / "salads50_tcn")
    ed = [f for f in folders if "ED-TCN" in f.name and f.parent.name == "eval"][0]
    scored = load_score_folder(ed)
    assert len(scored) == 50 and scored[0].name == "06-1" and scored[0].scores.shape[1] == 10


def test_eval_segment_equal_and_asot(shared_data, capsys):
    assert parse_seeds("0-2,5") == [0, 1, 2, 5]
    assert (
        segment_bench.main(
            ["--data", str(shared_data / "breakfast_cte"), "--method", "equal", "--seeds", "0"]
        )
        == 0
    )
    line = _last(capsys)
    assert re.fullmatch(r"segment equal: MoF=[\d.]+±[\d.]+ F1@50=[\d.]+±[\d.]+ mIoU=[\d.]+±[\d.]+", line), (
        line
    )
    mof = float(line.split("MoF=")[1].split("±")[0])
    assert 30 < mof < 60
    assert (
        segment_bench.main(
            [
                "--data",
                str(shared_data / "breakfast_cte" / "dummy_data"),
                "--method",
                "asot",
                "--seeds",
                "0",
                "--epochs",
                "1",
            ]
        )
        == 0
    )
    assert _last(capsys).startswith("segment asot: MoF=")


def test_eval_decode_argmax_reproduces_reference_accuracy(shared_data, capsys):
    assert (
        decode_bench.main(
            ["--data", str(shared_data / "salads50_tcn"), "--method", "argmax", "--model", "ED-TCN"]
        )
        == 0
    )
    line = _last(capsys)
    assert line.startswith("decode argmax: MoF=") and "Edit=" in line and "F1@50=" in line
    mof = float(line.split("MoF=")[1].split("±")[0])
    assert 68 <= mof <= 74  # the data's reference frame accuracy


def test_ot_decoder_raises_edit_on_framewise_scores(shared_data):
    """On the frame-wise SVM scores (heavily over-segmented) the decoder must raise Edit."""
    svm = [f for f in find_score_folders(shared_data / "salads50_tcn") if f.name == "eval_video_SVM"][0]
    vids = [v for v in load_score_folder(svm) if v.split == 2][:4]
    am = decode_bench.score_videos(
        decode_bench.decode_videos(vids, "argmax", decode_bench.DecoderSettings()), vids
    )
    ot = decode_bench.score_videos(
        decode_bench.decode_videos(vids, "asot", decode_bench.DecoderSettings()), vids
    )
    assert ot["Edit"] > am["Edit"] + 10 and ot["F1@10"] > am["F1@10"]


def test_eval_align_linear(shared_data, capsys):
    assert align_bench.main(["--data", str(shared_data / "breakfast_cte"), "--method", "linear"]) == 0
    line = _last(capsys)
    assert line.startswith("align linear: acc=") and "pairs=20" in line
    assert align_bench.pair_accuracy(np.array([0, 1, -1]), ["a", "b", "SIL"], ["a", "b"]) == 1.0


def test_weak_protocol_and_auc(shared_data):
    targets, train, test = weak_bench.make_weak_protocol(
        str(shared_data / "gym_i3d"), seed=0, n_train=4, n_test=2
    )
    assert len(targets) == 6 and len(train) == 4 and len(test) == 2
    assert all(set(s.labels()) <= set(targets) and s.labels() for s in train)
    again = weak_bench.make_weak_protocol(str(shared_data / "gym_i3d"), seed=0, n_train=4, n_test=2)
    assert [s.name for s in again[1]] == [s.name for s in train]
    assert np.array_equal(again[1][0].features, train[0].features)
    assert weak_bench.roc_auc(np.array([0.1, 0.9, 0.8, 0.2]), np.array([0, 1, 1, 0])) == 1.0
    assert weak_bench.roc_auc(np.array([0.5, 0.5]), np.array([0, 1])) == 0.5


def test_eval_decode_reads_both_layouts(shared_data, tmp_path, capsys):
    """``predictions/<Dataset>/<model>/*.mat`` (GTEA-style) is found without ``--granularity``, and the
    granularity layout still filters by it."""
    import shutil

    src = shared_data / "salads50_tcn" / "predictions" / "50Salads" / "eval" / "eval_video_SVM" / "1.mat"
    flat = tmp_path / "flat" / "predictions" / "GTEA" / "SVM"
    flat.mkdir(parents=True)
    shutil.copy(src, flat / "1.mat")
    assert decode_bench.main(["--data", str(tmp_path / "flat"), "--method", "argmax"]) == 0
    assert "GTEA/SVM" in capsys.readouterr().out
    deep = tmp_path / "deep" / "predictions" / "X" / "mid" / "SVM"
    deep.mkdir(parents=True)
    shutil.copy(src, deep / "1.mat")
    assert decode_bench.main(["--data", str(tmp_path / "deep"), "--method", "argmax"]) == 2
    assert "granularities there: mid" in capsys.readouterr().out
    assert (
        decode_bench.main(["--data", str(tmp_path / "deep"), "--method", "asot", "--granularity", "mid"]) == 0
    )
    out = capsys.readouterr().out
    assert "S from split 1's ground truth" in out and "chosen on:" in out
