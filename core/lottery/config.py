"""Hyperparameters of the ``imp`` experiment: frozen sections a study addresses by dotted name.

``data.*`` (which tasks, how many, noise), ``model.*`` (hidden widths), ``train.*`` (one
level's training), ``imp.*`` (levels, schedule, scope, rewinding, bias pruning),
``analysis.*`` (ticket tolerance, pictures) and ``seed`` (initialisation and batch order;
the data come from ``data.seed``). Every default gives a sensible
few-second run: two concatenated noisy moons, a (16, 16) MLP pruned to 40 weights in 5 levels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.config import check
from core.data.tasks import TASKS
from core.lottery.pruning import SCOPES
from core.lottery.schedules import SCHEDULES
from core.nets.activations import ACTIVATIONS
from core.optim import OPTIMIZERS

__all__ = ["TasksConfig", "MlpConfig", "ImpTrainConfig", "ImpSection", "AnalysisConfig", "ImpConfig", "MNIST_TASKS"]

MNIST_TASKS = ("mnist", "mnist_pairs")
# inputs and classes per task; every toy task is 2 inputs, 2 classes
_TASK_DIMS = {"mnist": (784, 10), "mnist_pairs": (784, 2)}


@dataclass(frozen=True, kw_only=True)
class TasksConfig:
    """k tasks side by side. Toy tasks: moons, circles, blobs; or mnist (10 classes), mnist_pairs.

    ``seed`` fixes the data (noise samples, MNIST pools) and the train / val / test rows, so that
    runs differing only in the top-level ``seed`` (init, batch order) are replicates on one data set.
    """

    task: str = "moons"
    k: int = 2
    n_samples: int = 1000  # rows; each row holds one sample of every task (toy tasks)
    noise: float = 0.1
    val_frac: float = 0.2
    test_frac: float = 0.2
    digits: tuple[int, ...] = (0, 1)  # mnist_pairs: pairs (a, b) per task, or one pair for all
    mnist_val: int = 5000  # mnist: validation images held out of the training set
    mnist_dir: str = ""  # "" → RunContext.data_dir, $MNIST_DIR or data/mnist
    seed: int = 0  # the samples and the train / val / test rows; ``ImpConfig.seed`` never changes them

    def __post_init__(self) -> None:
        check(
            self.task in TASKS or self.task in MNIST_TASKS,
            "task",
            f"unknown task {self.task!r}; expected one of {', '.join([*TASKS.names(), *MNIST_TASKS])}",
        )
        check(self.k >= 1, "k", f"expected an integer >= 1, got {self.k}")
        check(self.n_samples >= 20, "n_samples", f"expected an integer >= 20, got {self.n_samples}")
        check(self.noise >= 0, "noise", f"expected a number >= 0, got {self.noise}")
        check(0 < self.val_frac < 1, "val_frac", f"expected 0 < val_frac < 1, got {self.val_frac}")
        check(
            0 < self.test_frac < 1 and self.val_frac + self.test_frac < 1,
            "test_frac",
            f"expected 0 < test_frac < 1 - val_frac, got {self.test_frac}",
        )
        check(all(0 <= d <= 9 for d in self.digits), "digits", f"expected digits 0..9, got {self.digits}")
        if self.task == "mnist_pairs":
            ok = len(self.digits) in (2, 2 * self.k)
            check(ok, "digits", f"expected 2 or 2*k = {2 * self.k} digits, got {len(self.digits)}")
            pairs = zip(self.digits[::2], self.digits[1::2])
            check(all(a != b for a, b in pairs), "digits", f"a pair needs two different digits, got {self.digits}")
        check(0 < self.mnist_val < 60000, "mnist_val", f"expected 0 < mnist_val < 60000, got {self.mnist_val}")
        check(self.seed >= 0, "seed", f"expected an integer >= 0, got {self.seed}")


@dataclass(frozen=True, kw_only=True)
class MlpConfig:
    """The MLP's hidden widths and activation."""

    widths: tuple[int, ...] = (16, 16)
    activation: str = "relu"  # core.nets.activations.ACTIVATIONS

    def __post_init__(self) -> None:
        check(
            len(self.widths) >= 1 and all(w >= 1 for w in self.widths),
            "widths",
            f"expected a non-empty list of integers >= 1, got {self.widths}",
        )
        ACTIVATIONS.get(self.activation, "activation")  # raises listing the choices


@dataclass(frozen=True, kw_only=True)
class ImpTrainConfig:
    """One level's training: early stopping on validation loss with ``patience`` epochs."""

    optimizer: str = "adam"  # core.optim.OPTIMIZERS: adam, adamw, sgd
    lr: float = 1e-2
    weight_decay: float = 0.0
    momentum: float = 0.0  # read by sgd only; this experiment's default is plain SGD
    batch_size: int = 64
    max_epochs: int = 100
    max_steps: int = 0  # 0: no cap; else stop after this many optimizer steps
    patience: int = 10
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        OPTIMIZERS.get(self.optimizer, "optimizer")  # raises listing the choices
        check(0 <= self.momentum < 1, "momentum", f"expected a number in [0, 1), got {self.momentum}")
        check(self.lr > 0, "lr", f"expected a number > 0, got {self.lr}")
        check(self.weight_decay >= 0, "weight_decay", f"expected a number >= 0, got {self.weight_decay}")
        check(self.batch_size >= 1, "batch_size", f"expected an integer >= 1, got {self.batch_size}")
        check(self.max_epochs >= 1, "max_epochs", f"expected an integer >= 1, got {self.max_epochs}")
        check(self.max_steps >= 0, "max_steps", f"expected an integer >= 0, got {self.max_steps}")
        check(self.patience >= 1, "patience", f"expected an integer >= 1, got {self.patience}")
        check(self.min_delta >= 0, "min_delta", f"expected a number >= 0, got {self.min_delta}")


@dataclass(frozen=True, kw_only=True)
class ImpSection:
    """How IMP prunes: ``levels`` prunings (the budget), ``schedule`` count|fraction, ``scope`` global|layer."""

    levels: int = 5
    schedule: str = "count"
    target_params: int = 40  # count schedule: prunable parameters left after the last level
    fraction: float = 0.2  # fraction schedule: share of alive (hidden) weights removed per level
    output_fraction: float = 0.1  # fraction schedule, layer scope: share for the output layer
    scope: str = "global"
    prune_bias: bool = False
    rewind_step: int = 0  # 0: rewind to init; k: to the values after k steps of level 0
    stop_at_split: bool = False  # end the run at the first split level (saves budget)

    def __post_init__(self) -> None:
        check(self.levels >= 1, "levels", f"expected an integer >= 1, got {self.levels}")
        check(
            self.schedule in SCHEDULES,
            "schedule",
            f"unknown pruning schedule {self.schedule!r}; expected one of {', '.join(SCHEDULES.names())}",
        )
        check(
            self.scope in SCOPES,
            "scope",
            f"unknown pruning scope {self.scope!r}; expected one of {', '.join(SCOPES.names())}",
        )
        check(self.target_params >= 1, "target_params", f"expected an integer >= 1, got {self.target_params}")
        check(0 < self.fraction < 1, "fraction", f"expected 0 < fraction < 1, got {self.fraction}")
        check(0 <= self.output_fraction < 1, "output_fraction", f"expected 0 <= x < 1, got {self.output_fraction}")
        check(self.rewind_step >= 0, "rewind_step", f"expected an integer >= 0, got {self.rewind_step}")


@dataclass(frozen=True, kw_only=True)
class AnalysisConfig:
    """``ticket_tolerance``: how far below the dense network's validation accuracy still counts as a ticket."""

    ticket_tolerance: float = 0.02
    plots: bool = True
    trajectories: bool = True

    def __post_init__(self) -> None:
        check(0 <= self.ticket_tolerance <= 1, "ticket_tolerance", f"expected 0..1, got {self.ticket_tolerance}")


@dataclass(frozen=True, kw_only=True)
class ImpConfig:
    """The whole ``imp`` experiment."""

    data: TasksConfig = field(default_factory=TasksConfig)
    model: MlpConfig = field(default_factory=MlpConfig)
    train: ImpTrainConfig = field(default_factory=ImpTrainConfig)
    imp: ImpSection = field(default_factory=ImpSection)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    seed: int = 0  # initialisation and batch order (seed replicates); the data come from data.seed
    checkpoint: bool = True  # write a checkpoint per level under the run's workdir and resume from it

    def __post_init__(self) -> None:
        check(self.seed >= 0, "seed", f"expected an integer >= 0, got {self.seed}")
        if self.imp.schedule == "count":
            p0 = self.prunable_count()
            check(
                self.imp.target_params < p0,
                "imp.target_params",
                f"expected fewer than the {p0} prunable parameters, got {self.imp.target_params}",
            )

    def prunable_count(self) -> int:
        """P0: weights (and biases when pruned) of the dense MLP this config builds."""
        n_in, n_cls = _TASK_DIMS.get(self.data.task, (2, 2))
        sizes = [n_in * self.data.k, *self.model.widths, n_cls * self.data.k]
        weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        return weights + (sum(sizes[1:]) if self.imp.prune_bias else 0)
