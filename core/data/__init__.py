"""Datasets as tensors on the training device (no DataLoader workers)."""

from core.data.mnist import MNIST, load_mnist

__all__ = ["MNIST", "load_mnist"]
