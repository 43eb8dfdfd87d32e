"""Datasets as tensors on the training device (no DataLoader workers)."""

from core.data.mnist import MNIST, load_mnist
from core.data.tasks import TASKS, SplitData, TaskLayout, concat_tasks

__all__ = ["MNIST", "load_mnist", "TASKS", "SplitData", "TaskLayout", "concat_tasks"]
