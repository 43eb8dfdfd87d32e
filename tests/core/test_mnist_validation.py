"""The validation split of the MNIST training set: stratified, exact, disjoint, fixed by its seed."""

from __future__ import annotations

import pytest
import torch

from core.data.mnist import MNIST, MNIST_TRAIN_SIZE, load_mnist, stratified_split
from tests.helpers import MNIST_DIR


def _labels(counts: list[int], seed: int = 5) -> torch.Tensor:
    """Labels with the given count per class, shuffled."""
    y = torch.cat([torch.full((c,), k) for k, c in enumerate(counts)])
    return y[torch.randperm(y.shape[0], generator=torch.Generator().manual_seed(seed))]


def _check_split(y: torch.Tensor, n_val: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    keep, val = stratified_split(y, n_val, seed)
    n = y.shape[0]
    assert val.shape[0] == n_val and keep.shape[0] == n - n_val
    assert torch.equal(torch.sort(torch.cat([keep, val])).values, torch.arange(n)), "disjoint and covering"
    assert torch.equal(keep, keep.sort().values) and torch.equal(val, val.sort().values)
    counts, got = torch.bincount(y, minlength=10), torch.bincount(y[val], minlength=10)
    share = n_val * counts.double() / n
    assert ((got.double() - share).abs() < 1).all(), (got.tolist(), share.tolist())  # each class's share, rounded
    return keep, val


@pytest.mark.parametrize("n_val", [0, 1, 7, 333, 999])
def test_split_is_stratified_exact_and_disjoint(n_val):
    _check_split(_labels([100, 57, 3, 200, 91, 150, 1, 120, 140, 138]), n_val)


def test_split_is_fixed_by_its_seed_alone():
    y = _labels([300] * 10)
    torch.manual_seed(1)  # the global stream (a run's seed) plays no part
    a = stratified_split(y, 500, seed=4)
    torch.manual_seed(99)
    torch.rand(17)
    b = stratified_split(y, 500, seed=4)
    c = stratified_split(y, 500, seed=5)
    assert torch.equal(a[1], b[1]) and torch.equal(a[0], b[0])
    assert not torch.equal(a[1], c[1])
    assert torch.bincount(y[a[1]]).tolist() == torch.bincount(y[c[1]]).tolist() == [50] * 10


@pytest.mark.parametrize("n_val", [-1, 3000])
def test_split_rejects_sizes_out_of_range(n_val):
    with pytest.raises(ValueError, match=r"n_val must be in \[0, 2999\]"):
        stratified_split(_labels([300] * 10), n_val, 0)


def test_hold_out_takes_train_subset_after_the_split():
    x = torch.arange(3000, dtype=torch.float32).unsqueeze(1)  # row i holds the value i: its original index
    y = _labels([300] * 10)
    data = MNIST(x, y, x[:10], y[:10])
    full, small = data.hold_out(400, 2), data.hold_out(400, 2, n_train=250)
    keep, val = stratified_split(y, 400, 2)
    assert torch.equal(full.val_x[:, 0].long(), val) and torch.equal(full.val_y, y[val])
    assert torch.equal(small.val_x, full.val_x), "a training subset validates on the same rows"
    assert torch.equal(small.train_x[:, 0].long(), keep[:250]) and torch.equal(small.train_y, y[keep[:250]])
    assert not set(small.train_x[:, 0].tolist()) & set(small.val_x[:, 0].tolist())
    assert torch.equal(small.subset(n_test=4).val_x, small.val_x), "subset keeps validation whole"
    none = data.hold_out(0, 2, n_train=250)
    assert none.val_x is None and none.val_y is None and torch.equal(none.train_x, x[:250])
    with pytest.raises(ValueError, match="already"):
        full.hold_out(10, 0)


@pytest.mark.usefixtures("mnist_dir")
def test_the_mnist_split_is_stratified_on_the_real_labels():
    d = load_mnist(MNIST_DIR)
    assert d.train_y.shape[0] == MNIST_TRAIN_SIZE
    _check_split(d.train_y, 10000)
    h = d.hold_out(10000, 0)
    assert h.train_x.shape == (50000, 784) and h.val_x.shape == (10000, 784)
    assert torch.equal(h.test_x, d.test_x) and torch.equal(h.test_y, d.test_y), "the test set is untouched"
