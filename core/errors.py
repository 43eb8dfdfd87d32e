"""Errors meant for people: one line naming the field, the value and what was expected."""

from __future__ import annotations

__all__ = ["ConfigError", "DataError", "Diverged", "fatal_device_error", "out_of_memory"]


class ConfigError(ValueError):
    """A hyperparameter or file field is wrong. ``path`` is the dotted name of the field."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)

    def under(self, prefix: str) -> ConfigError:
        """The same error with its path placed under ``prefix`` (e.g. ``experiment``)."""
        return ConfigError(f"{prefix}.{self.path}" if self.path else prefix, self.message)


class Diverged(RuntimeError):
    """Training produced a non-finite loss; the run cannot continue meaningfully."""


class DataError(RuntimeError):
    """A data file is missing, truncated or not the original: the message names the file and what
    to do. Every trial would fail alike, so drivers check before training (``Experiment.check_data``)."""


# What CUDA says after a fault that leaves the process's CUDA context unusable: every later kernel
# in the process fails too, so only a new process recovers (torch raises AcceleratorError since 2.8,
# a RuntimeError with this text before and for cuBLAS / cuDNN).
_FATAL_TEXT = (
    "CUDA error",
    "device-side assert",
    "illegal memory access",
    "unspecified launch failure",
    "CUBLAS_STATUS_",
    "CUDNN_STATUS_",
)


def out_of_memory(err: BaseException) -> bool:
    """A device out-of-memory (``torch.OutOfMemoryError``): recoverable, by asking for less."""
    import torch

    return isinstance(err, torch.OutOfMemoryError)


def fatal_device_error(err: BaseException) -> bool:
    """An error after which this process's GPU is unusable (illegal memory access, device-side
    assert, ...): not an out-of-memory, which a smaller request recovers from."""
    import torch

    if out_of_memory(err):
        return False
    if isinstance(err, getattr(torch, "AcceleratorError", ())):
        return True
    return isinstance(err, RuntimeError) and any(text in str(err) for text in _FATAL_TEXT)
