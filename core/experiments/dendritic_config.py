"""The ``dendritic`` experiment's configuration: every knob a study may search is a dotted field of
:class:`DendriticConfig` (``plasticity.p``, ``train.lr``, ``model.n_somata``, ``seed``, ...), each
checked where it is declared. :mod:`core.experiments.dendritic` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from core.config import check
from core.data.mnist import MNIST_TRAIN_SIZE
from core.nets.activations import ACTIVATIONS
from core.optim import LR_SCHEDULES, OPTIMIZERS
from core.plasticity import CRITERIA, GROWTH, NEW_WEIGHTS, SCHEDULES, TARGETS

__all__ = ["DannConfig", "PlasticityConfig", "DendriticTrainConfig", "MnistDataConfig", "DendriticConfig"]


def _known(registry, name: str, path: str) -> None:
    registry.get(name, path)  # raises ConfigError listing the choices


@dataclass(frozen=True, kw_only=True)
class DannConfig:
    """The network. ``architecture: dense`` is the dense-MLP baseline of the same widths."""

    architecture: Literal["dendritic", "dense"] = "dendritic"
    n_inputs: int = 784  # must match the data; here so that synapse counts can be validated
    n_somata: int = 128
    dendrites_per_soma: int = 1
    synapses_per_dendrite: int = 16
    input_sampling: Literal["random", "lrf"] = "random"
    lrf_sigma: float = 3.0  # pixels, for input_sampling: lrf
    dendrite_activation: str = "relu"
    soma_activation: str = "relu"  # leaky_relu: Chavlis & Poirazi's code
    # He init scale from the synapses a dendrite has (16) or from all inputs (784, a dense layer's)
    init_fan_in: Literal["synapses", "inputs"] = "synapses"

    def __post_init__(self) -> None:
        for name in ("n_inputs", "n_somata", "dendrites_per_soma", "synapses_per_dendrite"):
            check(getattr(self, name) >= 1, name, f"expected an integer >= 1, got {getattr(self, name)}")
        check(
            self.synapses_per_dendrite <= self.n_inputs,
            "synapses_per_dendrite",
            f"expected at most n_inputs = {self.n_inputs}, got {self.synapses_per_dendrite}",
        )
        check(self.lrf_sigma > 0, "lrf_sigma", f"expected a number > 0 (pixels), got {self.lrf_sigma}")
        _known(ACTIVATIONS, self.dendrite_activation, "dendrite_activation")
        _known(ACTIVATIONS, self.soma_activation, "soma_activation")


@dataclass(frozen=True, kw_only=True)
class PlasticityConfig:
    """Resampling: which (criterion), where (growth), how many (p, schedule), when (trigger)."""

    enabled: bool = True
    # shipped defaults: measured on MNIST (docs/results/dendritic.md); the user's root
    # schedule tends to 1 % per round, too little turnover at 100-step intervals
    p: float = 20.0  # base rate, percent of each dendrite's synapses per round
    schedule: str = "cosine"
    decay: float = 0.9  # per-round factor of the exponential schedule
    criterion: str = "smallest"
    temperature: float = 0.5  # stochastic criterion, relative to the dendrite's mean |w|
    ema_beta: float = 0.99  # ema criterion
    # the law each dendrite's signed weights are resampled toward (criterion: distribution,
    # new_weight_init: target) and measured against every epoch (core.plasticity.target)
    target: str = "normal"  # normal or laplace
    target_std: float = 0.0  # its standard deviation; 0: He by the real fan-in, sqrt(2 / synapses)
    target_bins: int = 4  # criterion distribution: bins of equal target mass per dendrite
    target_truncate: float = 0.0  # new_weight_init target: |w| <= this quantile of the live |w| (0: none)
    growth: str = "uniform"
    growth_sigma: float = 3.0  # pixels, lrf growth
    new_weight_init: str = "zero"
    optimizer_state: Literal["keep", "reset"] = "keep"
    every_steps: int = 100
    interval_growth: float = 0.0
    cooldown_batches: int = 0
    stop_after: float = 1.0  # fraction of training after which the wiring is fixed

    def __post_init__(self) -> None:
        check(0.0 <= self.p <= 100.0, "p", f"expected a rate in [0, 100] percent, got {self.p}")
        check(0.0 < self.decay <= 1.0, "decay", f"expected a factor in (0, 1], got {self.decay}")
        check(self.temperature > 0, "temperature", f"expected a number > 0, got {self.temperature}")
        check(0.0 <= self.ema_beta < 1.0, "ema_beta", f"expected a number in [0, 1), got {self.ema_beta}")
        check(self.target_std >= 0, "target_std", f"expected a number >= 0 (0: He scale), got {self.target_std}")
        check(self.target_bins >= 2, "target_bins", f"expected an integer >= 2, got {self.target_bins}")
        check(
            0.0 <= self.target_truncate <= 1.0,
            "target_truncate",
            f"expected a quantile in (0, 1], or 0 for no truncation, got {self.target_truncate}",
        )
        check(self.growth_sigma > 0, "growth_sigma", f"expected a number > 0 (pixels), got {self.growth_sigma}")
        check(self.every_steps >= 1, "every_steps", f"expected an integer >= 1, got {self.every_steps}")
        check(self.interval_growth >= 0, "interval_growth", f"expected a number >= 0, got {self.interval_growth}")
        check(self.cooldown_batches >= 0, "cooldown_batches", f"expected an integer >= 0, got {self.cooldown_batches}")
        check(
            0.0 < self.stop_after <= 1.0,
            "stop_after",
            f"expected a fraction of training in (0, 1], got {self.stop_after}",
        )
        _known(SCHEDULES, self.schedule, "schedule")
        _known(CRITERIA, self.criterion, "criterion")
        _known(GROWTH, self.growth, "growth")
        _known(NEW_WEIGHTS, self.new_weight_init, "new_weight_init")
        _known(TARGETS, self.target, "target")


@dataclass(frozen=True, kw_only=True)
class DendriticTrainConfig:
    """Optimisation. ``train_subset``/``test_subset`` > 0 use only the first examples (tests);
    ``train_subset`` takes them from the rows left after ``data.val_size`` was held out."""

    epochs: int = 50
    batch_size: int = 128
    lr: float = 3e-3
    lr_schedule: str = "constant"  # constant, cosine, step (core.optim.LR_SCHEDULES)
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9  # read by optimizer: sgd only (the default optimizer is adam)
    label_smoothing: float = 0.0  # the training loss's (torch's cross_entropy); evaluation is plain cross-entropy
    warmup_epochs: float = 0.0  # the lr rises linearly over this many epochs' steps, then follows lr_schedule
    input_scaling: Literal["standard", "unit"] = "standard"  # MNIST pixels: mean/std-normalised or in [0, 1]
    train_subset: int = 0
    test_subset: int = 0

    def __post_init__(self) -> None:
        check(self.epochs >= 1, "epochs", f"expected an integer >= 1, got {self.epochs}")
        check(self.batch_size >= 1, "batch_size", f"expected an integer >= 1, got {self.batch_size}")
        check(self.lr > 0, "lr", f"expected a number > 0, got {self.lr}")
        check(self.weight_decay >= 0, "weight_decay", f"expected a number >= 0, got {self.weight_decay}")
        check(0 <= self.momentum < 1, "momentum", f"expected a number in [0, 1), got {self.momentum}")
        check(
            0 <= self.label_smoothing < 1,
            "label_smoothing",
            f"expected a number in [0, 1), got {self.label_smoothing}",
        )
        check(
            0 <= self.warmup_epochs <= self.epochs,
            "warmup_epochs",
            f"expected a number in [0, epochs = {self.epochs}], got {self.warmup_epochs}",
        )
        check(self.train_subset >= 0, "train_subset", f"expected an integer >= 0, got {self.train_subset}")
        check(self.test_subset >= 0, "test_subset", f"expected an integer >= 0, got {self.test_subset}")
        _known(OPTIMIZERS, self.optimizer, "optimizer")
        _known(LR_SCHEDULES, self.lr_schedule, "lr_schedule")


@dataclass(frozen=True, kw_only=True)
class MnistDataConfig:
    """Which training images are held out for validation (before ``train.train_subset`` applies).

    ``val_size`` images of the 60,000 are held out, class-stratified; 0 trains on all of them
    (no validation metrics). ``seed`` is the data seed choosing them: independent of the run's
    ``seed`` (initialisation, batch order, plasticity draws), so seed replicates validate on
    the same images.
    """

    val_size: int = 10000
    seed: int = 0

    def __post_init__(self) -> None:
        check(
            0 <= self.val_size < MNIST_TRAIN_SIZE,
            "val_size",
            f"expected an integer in [0, {MNIST_TRAIN_SIZE - 1}] (images held out of the "
            f"{MNIST_TRAIN_SIZE:,} training images; 0 = none), got {self.val_size}",
        )
        check(self.seed >= 0, "seed", f"expected an integer >= 0 (the data seed), got {self.seed}")


@dataclass(frozen=True, kw_only=True)
class DendriticConfig:
    """All hyperparameters of one ``dendritic`` run; a run's identity is their hash."""

    model: DannConfig = field(default_factory=DannConfig)
    plasticity: PlasticityConfig = field(default_factory=PlasticityConfig)
    train: DendriticTrainConfig = field(default_factory=DendriticTrainConfig)
    data: MnistDataConfig = field(default_factory=MnistDataConfig)
    seed: int = 0  # initialisation, batch order, plasticity draws (not which images validate: data.seed)
    plots: bool = True
    plot_dendrites: int = 16  # dendrites drawn over the input grid
    # every epoch evaluates the full training and test sets (false: after the last epoch only;
    # per epoch then validation and the training steps' running means: what a search decides on)
    curves: bool = True

    def __post_init__(self) -> None:
        check(self.plot_dendrites >= 0, "plot_dendrites", f"expected an integer >= 0, got {self.plot_dendrites}")
