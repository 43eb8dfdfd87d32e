"""Toy tasks, their concatenation, seeded splits, and MNIST digit-pair tasks (real files)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.config import from_dict
from core.data.tasks import TASKS, concat_tasks, split_rows
from core.errors import ConfigError
from core.lottery.config import TasksConfig


@pytest.mark.parametrize("name", TASKS.names())
def test_tasks_are_balanced_seeded_and_two_dimensional(name):
    x, y = TASKS.get(name)(101, 0.1, np.random.default_rng(3))
    x2, y2 = TASKS.get(name)(101, 0.1, np.random.default_rng(3))
    assert x.shape == (101, 2) and x.dtype == np.float32 and y.dtype == np.int64
    assert abs(int((y == 0).sum()) - int((y == 1).sum())) <= 1
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    x3, _ = TASKS.get(name)(101, 0.1, np.random.default_rng(4))
    assert not np.array_equal(x, x3)


def test_noise_free_moons_lie_on_their_half_circles():
    x, y = TASKS.get("moons")(200, 0.0, np.random.default_rng(0))
    upper = np.hypot(x[y == 0, 0], x[y == 0, 1])
    lower = np.hypot(x[y == 1, 0] - 1, x[y == 1, 1] - 0.5)
    assert np.allclose(upper, 1, atol=1e-6) and np.allclose(lower, 1, atol=1e-6)
    assert (x[y == 0, 1] >= -1e-6).all() and (x[y == 1, 1] <= 0.5 + 1e-6).all()


def test_concat_puts_tasks_side_by_side_independently_of_k():
    x2, y2, lay2 = concat_tasks(["moons"] * 2, 50, 0.1, seed=5)
    x3, y3, lay3 = concat_tasks(["moons"] * 3, 50, 0.1, seed=5)
    assert x3.shape == (50, 6) and y3.shape == (50, 3)
    assert lay3.n_in == 6 and lay3.n_out == 6 and lay3.k == 3
    assert lay3.input_task().tolist() == [0, 0, 1, 1, 2, 2]
    assert [(s.start, s.stop) for s in lay3.out_slices()] == [(0, 2), (2, 4), (4, 6)]
    assert np.array_equal(x3[:, :4], x2) and np.array_equal(y3[:, :2], y2)
    assert not np.array_equal(x3[:, 0:2], x3[:, 2:4])  # tasks drawn independently


def test_splits_partition_the_rows_with_the_given_fractions():
    x, y, _ = concat_tasks(["circles", "circles"], 200, 0.05, seed=1)
    tr, va, te = split_rows(x, y, 0.2, 0.25, seed=1)
    assert (len(tr.x), len(va.x), len(te.x)) == (110, 40, 50)
    rows = {tuple(r) for part in (tr, va, te) for r in part.x.numpy().round(6)}
    assert len(rows) == 200
    tr2, _, _ = split_rows(x, y, 0.2, 0.25, seed=1)
    assert torch.equal(tr.x, tr2.x)


def test_data_config_errors_name_the_field():
    with pytest.raises(ConfigError, match=r"data\.task: unknown task 'spirals'"):
        from_dict(TasksConfig, {"task": "spirals"}, "data")
    with pytest.raises(ConfigError, match=r"^noise"):
        TasksConfig(noise=-0.1)
    with pytest.raises(ConfigError, match=r"^digits"):
        TasksConfig(task="mnist_pairs", k=3, digits=(1, 2, 3, 4))


@pytest.mark.slow
def test_mnist_digit_pairs_concatenated(mnist_dir):
    from core.data.mnist import load_mnist
    from core.data.mnist_pairs import mnist_tasks

    d = TasksConfig(task="mnist_pairs", k=2, digits=(3, 8, 1, 7), mnist_val=5000)
    data = mnist_tasks(d, str(mnist_dir), seed=0)
    assert data.layout.in_sizes == (784, 784) and data.layout.n_classes == (2, 2)
    m = load_mnist(str(mnist_dir))
    n_test = min(int(((m.test_y == 3) | (m.test_y == 8)).sum()), int(((m.test_y == 1) | (m.test_y == 7)).sum()))
    assert len(data.test.x) == n_test
    assert set(data.train.y.unique().tolist()) == {0, 1}
    # every test row's first image is a 3 or an 8 with label 0 for 3: find it in the test set
    idx = [int(torch.nonzero((m.test_x == data.test.x[i, :784]).all(1))[0]) for i in range(20)]
    assert [int(m.test_y[j]) for j in idx] == [3 if int(c) == 0 else 8 for c in data.test.y[:20, 0]]
    # validation and training images are disjoint and together come from the training set
    assert len(data.val.x) + len(data.train.x) < 60000
    full = mnist_tasks(TasksConfig(task="mnist", k=1), str(mnist_dir), seed=0)
    assert (len(full.train.x), len(full.val.x), len(full.test.x)) == (55000, 5000, 10000)
    assert full.layout.n_classes == (10,)
