"""`otstudio eval fewshot` on the real I3D features: table, last line, smoke check on untrimmed clips."""

from __future__ import annotations

import re

import pytest
import torch

from otcore.bench.fewshot import main, settings_line
from otcore.bench.seeds import parse_seeds
from otcore.methods.plot_tal import PlotTALConfig


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_parse_seeds():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("1,3-4") == [1, 3, 4]


def test_gym_table_and_last_line(shared_data, capsys):
    rc = main(
        [
            "--data",
            str(shared_data / "gym_i3d"),
            "--shots",
            "1",
            "--seeds",
            "0",
            "--epochs",
            "5",
            "--method",
            "prototype,plot-tal",
            "--classification-shots",
            "5",
            "--glp-epochs",
            "3",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "random frozen weights" in "\n".join(out)  # honest about the missing text semantics
    m = re.fullmatch(r"avg_mAP prototype=([\d.]+) plot-tal=([\d.]+)", out[-1])
    assert m, out[-1]
    assert 0 < float(m.group(1)) <= 100  # real detections, not an empty table
    assert any(line.startswith("classification (5-shot, 21 classes") for line in out)
    assert any(line.startswith("prototype") and "±" in line for line in out)


def test_settings_line_says_what_was_chosen_and_on_what():
    assert "seeds 0-9" in settings_line(PlotTALConfig(seed=3))  # the seed is not a setting
    line = settings_line(PlotTALConfig(lr=0.003, epochs=50))
    assert "epochs=50 lr=0.003 given on the command line" in line


def test_bad_set_is_one_clear_error(shared_data, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--data", str(shared_data / "gym_i3d"), "--set", "no_such_field=1"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "bad --set" in err and "no_such_field" in err and "Traceback" not in err


def test_untrimmed_smoke(shared_data, capsys):
    rc = main(["--data", str(shared_data / "clips_labeled"), "--method", "prototype", "--epochs", "5"])
    assert rc == 0
    out = capsys.readouterr().out.strip().splitlines()
    head = next(line for line in out if line.startswith("smoke check"))
    assert "HighJump" in head and "TennisSwing" in head
    assert out[-1].startswith("avg_mAP prototype=")
