"""The training knobs of the third night: label smoothing and a linear lr warm-up, alone and in a
population (helpers: tests/core/test_dendritic_population.py)."""

from __future__ import annotations

import pytest

from core import get_experiment
from core.config import ConfigError
from core.experiments.dendritic import schedule_of
from core.experiments.dendritic_population import run_dendritic_population
from tests.core.test_dendritic_population import MIXED, _cfg, _ctx, _Record, _same_result

pytestmark = pytest.mark.usefixtures("mnist_dir", "one_thread")


def test_warmup_ramps_the_rate_linearly_then_follows_the_schedule():
    cfg = _cfg({"train.lr": 0.01, "train.warmup_epochs": 0.5, "train.lr_schedule": "constant"})
    sched = schedule_of(cfg, steps_per_epoch=100)  # 50 warm-up steps
    assert [sched(s) for s in (0, 24, 49, 50, 299)] == pytest.approx([0.01 / 50, 0.01 / 2, 0.01, 0.01, 0.01])
    assert schedule_of(_cfg({"train.warmup_epochs": 0.0}), 100) is None  # constant, no warm-up: no schedule
    cosine = schedule_of(_cfg({"train.warmup_epochs": 1.0, "train.lr_schedule": "cosine"}), 100)
    plain = schedule_of(_cfg({"train.lr_schedule": "cosine"}), 100)
    assert cosine(150) == plain(150) and cosine(9) == plain(9) * 10 / 100


def test_label_smoothing_changes_the_training_loss_only(tmp_path):
    run = get_experiment("dendritic").run
    smooth = run(_cfg({**MIXED[0], "train.epochs": 1, "train.label_smoothing": 0.2}), _Record(), _ctx(tmp_path, "s"))
    plain = run(_cfg({**MIXED[0], "train.epochs": 1}), _Record(), _ctx(tmp_path, "p"))
    # The smoothed loss adds 0.2 x (the mean over classes of -log p - the label's -log p) >= 0 on
    # average: larger on the same seed's batches; the evaluations stay plain cross-entropy.
    assert smooth.metrics["train_loss_running"] > plain.metrics["train_loss_running"] + 0.05
    assert smooth.metrics["test_acc"] > 0.5 and smooth.metrics["test_loss"] < smooth.metrics["train_loss_running"]


def test_members_with_smoothing_and_warmup_equal_their_runs_alone(tmp_path):
    over = [
        {**MIXED[1], "train.label_smoothing": 0.1, "train.warmup_epochs": 1.0},
        {**MIXED[2]},  # no smoothing, beside smoothed members
        {**MIXED[6], "train.label_smoothing": 0.05, "train.warmup_epochs": 0.5, "train.lr_schedule": "cosine"},
        {**MIXED[0], "train.warmup_epochs": 2.0, "train.lr_schedule": "step"},
    ]
    cfgs = [_cfg({**o, "train.epochs": 2}) for o in over]
    reps = [_Record() for _ in cfgs]
    got = run_dendritic_population(cfgs, reps, _ctx(tmp_path, "pop"))
    for i, cfg in enumerate(cfgs):
        rec = _Record()
        alone = get_experiment("dendritic").run(cfg, rec, _ctx(tmp_path, f"alone{i}"))
        _same_result(alone, got[i])
        assert rec.rows == reps[i].rows, i


@pytest.mark.parametrize(
    ("path", "value", "says"),
    [
        ("train.label_smoothing", 1.0, "train.label_smoothing: expected a number in [0, 1), got 1.0"),
        ("train.label_smoothing", -0.1, "train.label_smoothing: expected a number in [0, 1)"),
        ("train.warmup_epochs", 60.0, "train.warmup_epochs: expected a number in [0, epochs = 50], got 60.0"),
    ],
)
def test_bad_knob_values_are_one_line_naming_the_field(path, value, says):
    with pytest.raises(ConfigError) as err:
        _cfg({path: value}, {})
    assert says in str(err.value)
