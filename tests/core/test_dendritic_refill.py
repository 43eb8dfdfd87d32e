"""A dendritic population refilled from a feed: members join into freed slots at epoch boundaries,
each with its own clock, and each member's reports and Result are still its run alone's
(helpers: tests/core/test_dendritic_population.py)."""

from __future__ import annotations

import pytest

from core import get_experiment
from core.experiments.dendritic_population import run_dendritic_population
from tests.core.test_dendritic_population import MIXED, _cfg, _ctx, _Record, _same_result

pytestmark = pytest.mark.usefixtures("mnist_dir", "one_thread")


class _Feed:
    """Hands out ``queue`` while the population has fewer than ``capacity`` members; logs everything."""

    def __init__(self, queue, capacity: int) -> None:
        self.queue, self.capacity = list(queue), capacity
        self.log: list[tuple] = []
        self.boundaries = 0

    def more(self, active: int):
        self.boundaries += 1
        take = self.queue[: max(0, self.capacity - active)]
        del self.queue[: len(take)]
        self.log += [("join", self.boundaries, cfg.seed) for cfg, _ in take]
        return take

    def done(self, index: int, outcome) -> None:
        self.log.append(("done", self.boundaries, index))


def test_members_that_join_freed_slots_each_equal_their_run_alone(tmp_path):
    # Capacity 2. A (1 epoch) leaves after epoch 1 and C joins (same seed as A, so a data order
    # of its own: (seed 1, joined 1)); B (3 epochs, lr schedule) and C then train at different
    # epochs and Adam steps; after epoch 3 both leave and D, E join a population empty of
    # stayers; D is pruned by its reporter at its epoch 1, E runs 2 epochs.
    a = _cfg({**MIXED[1], "train.epochs": 1})
    b = _cfg({**MIXED[6], "train.epochs": 3, "train.lr_schedule": "cosine"})
    c = _cfg({**MIXED[4], "seed": 1, "train.epochs": 2})
    d = _cfg({**MIXED[2], "train.epochs": 2})
    e = _cfg({**MIXED[3], "seed": 1, "train.epochs": 2, "plasticity.enabled": True, "train.lr_schedule": "step"})
    reps = {name: _Record(fail_at=1 if name == "d" else None) for name in "abcde"}
    feed = _Feed([(c, reps["c"]), (d, reps["d"]), (e, reps["e"])], capacity=2)
    got = run_dendritic_population([a, b], [reps["a"], reps["b"]], _ctx(tmp_path, "pop"), feed=feed)

    assert feed.log == [
        ("done", 0, 0),  # A finishes at the first boundary, before more() is asked
        ("join", 1, 1),  # C
        ("done", 2, 1),  # B and C finish after epoch 3 ...
        ("done", 2, 2),
        ("join", 3, 2),  # ... and D, E join the empty population
        ("join", 3, 1),
        ("done", 3, 3),  # D pruned at its epoch 1
        ("done", 4, 4),  # E finishes at its epoch 2
    ]
    assert len(got) == 5 and isinstance(got[3], RuntimeError) and "pruned at epoch 1" in str(got[3])
    for i, (cfg, name) in enumerate(zip((a, b, c, e), "abce")):
        rec = _Record()
        alone = get_experiment("dendritic").run(cfg, rec, _ctx(tmp_path, f"alone{i}"))
        _same_result(alone, got["abcde".index(name)])
        assert rec.rows == reps[name].rows, name  # every epoch's report, bitwise
    assert [step for step, _ in reps["c"].rows] == [1, 2]  # its own epochs, not the population's


def test_a_reporter_stopped_by_another_members_report_leaves_at_once(tmp_path):
    class Stoppable(_Record):
        stopped = None

    first = Stoppable()

    class StopFirst(_Record):  # reports after ``first`` and stops it, as a trial's last seed does
        def report(self, step, metrics):
            super().report(step, metrics)
            first.stopped = RuntimeError("pruned through the last seed")

    cfgs = [_cfg({**MIXED[0], "train.epochs": 3}), _cfg({**MIXED[1], "train.epochs": 2})]
    got = run_dendritic_population(cfgs, [first, StopFirst()], _ctx(tmp_path, "pop"))
    assert isinstance(got[0], RuntimeError) and [s for s, _ in first.rows] == [1]
    assert not isinstance(got[1], BaseException)
