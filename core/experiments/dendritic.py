"""``dendritic``: a dendritic ANN on MNIST with structural plasticity (synapse resampling).

The user's experiment (seed note 000): 128 somata × 1 dendrite × 16 synapses with random
inputs (3,722 parameters), trained with and without resampling ("vanilla"), plus a dense
MLP of the same widths as a second baseline (``model.architecture: dense``). Every knob a
study may search is a dotted field of :class:`DendriticConfig` (``plasticity.p``,
``train.lr``, ``model.n_somata``, ``seed``, ...).

Data: ``data.val_size`` (default 10,000) of the 60,000 training images are held out as a
class-stratified validation set fixed by ``data.seed``, and every epoch reports
``val_loss``/``val_acc`` beside train and test: searches choose and prune on validation and
touch the test set only when confirming. ``data.val_size: 0`` trains on all 60,000 (a
confirmation run; every figure measured before validation existed was trained that way).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from core.config import check, config_hash
from core.contract import Reporter, Result, RunContext, register_experiment
from core.data.mnist import MNIST, ensure_mnist, load_mnist
from core.experiments.dendritic_config import (
    DannConfig,
    DendriticConfig,
    DendriticTrainConfig,
    MnistDataConfig,
    PlasticityConfig,
)
from core.nets.dendritic import DANN, DendriticLayer
from core.nets.dense import DenseMLP
from core.optim import lr_at, make_optimizer
from core.plasticity import Plasticity, Target, ks_to_normal, ks_to_target, target_of, w1_to_target, weight_entropy
from core.train import train

__all__ = [
    "DannConfig",
    "PlasticityConfig",
    "DendriticTrainConfig",
    "MnistDataConfig",
    "DendriticConfig",
    "Prepared",
    "run_dendritic",
    "build_model",
    "load_data",
    "prepare",
    "epoch_metrics",
    "finish",
    "schedule_of",
]


def build_model(mc: DannConfig, n_classes: int, gen: torch.Generator, device) -> torch.nn.Module:
    """The dANN, or the dense MLP with the same layer widths."""
    if mc.architecture == "dense":
        n_d = mc.n_somata * mc.dendrites_per_soma
        widths = (
            (mc.n_inputs, n_d, mc.n_somata, n_classes)
            if mc.dendrites_per_soma > 1
            else (mc.n_inputs, mc.n_somata, n_classes)
        )
        return DenseMLP(widths, activation=mc.soma_activation, gen=gen, device=device)
    return DANN(
        mc.n_inputs,
        n_classes,
        mc.n_somata,
        mc.dendrites_per_soma,
        mc.synapses_per_dendrite,
        input_sampling=mc.input_sampling,
        sigma=mc.lrf_sigma,
        dendrite_activation=mc.dendrite_activation,
        soma_activation=mc.soma_activation,
        init_fan_in=mc.init_fan_in,
        gen=gen,
        device=device,
    )


@dataclass
class Prepared:
    """One run's parts before training: what the reference loop and the population both start from."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    layer: DendriticLayer | None
    plasticity: Plasticity | None
    steps_per_epoch: int
    start: dict[str, torch.Tensor]
    target: Target | None  # the law the dendrites' weights are measured against (no dendrites: None)


def load_data(cfg: DendriticConfig, ctx: RunContext) -> MNIST:
    """The run's MNIST on ``ctx.device``: validation held out of all 60,000 training images
    (``cfg.data``), then the training and test subsets, scaled; checks the model's input size."""
    data = load_mnist(ctx.data_dir, device=torch.device(ctx.device), scaling=cfg.train.input_scaling)
    data = data.hold_out(cfg.data.val_size, cfg.data.seed, n_train=cfg.train.train_subset)
    data = data.subset(n_test=cfg.train.test_subset)
    check(
        data.n_inputs == cfg.model.n_inputs,
        "model.n_inputs",
        f"expected {data.n_inputs} (the data's input size), got {cfg.model.n_inputs}",
    )
    return data


def prepare(cfg: DendriticConfig, n_train: int, device) -> Prepared:
    """Seed, build the model, optimizer and plasticity of one run, in the reference order.

    The generator that initialises the model is the one plasticity draws from afterwards, so
    a run's random stream (and with it every rewiring) depends only on its config.
    """
    torch.manual_seed(cfg.seed)
    gen = torch.Generator(device).manual_seed(cfg.seed)
    model = build_model(cfg.model, 10, gen, device)
    tc = cfg.train
    opt = make_optimizer(tc.optimizer, model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay, momentum=tc.momentum)
    layer = getattr(model, "dendritic", None)
    steps_per_epoch = -(-n_train // tc.batch_size)
    plast = None
    if layer is not None and cfg.plasticity.enabled:
        plast = Plasticity(
            layer,
            opt,
            cfg.plasticity,
            steps_per_epoch=steps_per_epoch,
            total_steps=steps_per_epoch * tc.epochs,
            gen=gen,
        )
    target = target_of(cfg.plasticity, layer.synapses) if layer is not None else None
    return Prepared(model, opt, layer, plast, steps_per_epoch, _snapshot(layer), target)


def schedule_of(cfg: DendriticConfig, steps_per_epoch: int):
    """The run's learning rate per step (``train.lr_schedule`` after a linear ``train.warmup_epochs``
    ramp), or ``None`` for a constant rate."""
    tc = cfg.train
    warm = round(tc.warmup_epochs * steps_per_epoch)
    if tc.lr_schedule == "constant" and not warm:
        return None
    total = steps_per_epoch * tc.epochs
    # x * 1.0 is x exactly, so a run without warm-up keeps its rates bit for bit
    return lambda step: lr_at(tc.lr_schedule, tc.lr, step, total) * (min(1.0, (step + 1) / warm) if warm else 1.0)


def epoch_metrics(prep: Prepared) -> dict[str, float]:
    """Reported with every epoch: plasticity counters and the dendrites' distance to the target."""
    plast = prep.plasticity
    out = {"rounds": float(plast.rounds if plast else 0), "synapses_moved": float(plast.moved if plast else 0)}
    if prep.layer is not None:
        out.update(_distances(prep.layer.weight, prep.target))
    return out


def _distances(weight: torch.Tensor, target: Target) -> dict[str, float]:
    """Mean over dendrites of the KS and Wasserstein-1 distances to the target (docs/definitions.md)."""
    return {
        "target_ks": float(ks_to_target(weight, target).mean()),
        "target_w1": float(w1_to_target(weight, target).mean()),
    }


def finish(
    cfg: DendriticConfig, ctx: RunContext, prep: Prepared, history: list[dict[str, float]], t_start: float
) -> Result:
    """The run's Result from its trained parts and per-epoch history (metrics, figures)."""
    model, layer, plast, tc = prep.model, prep.layer, prep.plasticity, cfg.train
    end = _snapshot(layer)
    metrics = dict(history[-1])
    metrics.update(
        n_params=float(sum(int((p != 0).sum()) for p in model.parameters() if p.requires_grad)),
        n_params_total=float(sum(p.numel() for p in model.parameters() if p.requires_grad)),
        epochs=float(tc.epochs),
    )
    if plast is not None:
        metrics.update(plast.summary(prep.steps_per_epoch * tc.epochs))
    else:
        metrics.update(rounds=0.0, synapses_moved=0.0)
    if layer is not None:
        metrics.update(
            entropy_start=float(prep.start["entropy"].mean()),
            entropy_end=float(end["entropy"].mean()),
            ks_he_start=ks_to_normal(prep.start["weight"], layer.he_std),
            ks_he_end=ks_to_normal(end["weight"], layer.he_std),
        )
        for when, snap in (("start", prep.start), ("end", end)):
            metrics.update({f"{k}_{when}": v for k, v in _distances(snap["weight"], prep.target).items()})
    artifacts = {}
    if cfg.plots:
        from core.experiments.dendritic_plots import dendritic_figures  # matplotlib only when plotting

        out = ctx.workdir / f"dendritic-{config_hash(cfg)}"
        artifacts = dendritic_figures(
            out,
            history=history,
            start=prep.start,
            end=end,
            plasticity=plast,
            layer=layer,
            target=prep.target,
            steps_per_epoch=prep.steps_per_epoch,
            n_show=cfg.plot_dendrites,
            distances={k: v for k, v in metrics.items() if k.startswith("target_")},
        )
    metrics["wall_time_s"] = time.perf_counter() - t_start
    return Result(
        metrics=metrics, artifacts=artifacts, extra={"history": history, "device": str(torch.device(ctx.device))}
    )


def check_data(cfg: DendriticConfig, ctx: RunContext) -> None:
    """MNIST is there (downloaded when missing) and every file is the original (md5)."""
    ensure_mnist(ctx.data_dir)


@register_experiment("dendritic", DendriticConfig, check_data=check_data, step_unit="epoch")
def run_dendritic(cfg: DendriticConfig, reporter: Reporter, ctx: RunContext) -> Result:
    """Train the dANN (or dense baseline) on MNIST, resampling synapses when enabled."""
    t_start = time.perf_counter()
    if ctx.threads:
        torch.set_num_threads(ctx.threads)
    data = load_data(cfg, ctx)
    prep = prepare(cfg, data.train_x.shape[0], torch.device(ctx.device))
    tc = cfg.train
    history = train(
        prep.model,
        data,
        epochs=tc.epochs,
        batch_size=tc.batch_size,
        optimizer=prep.optimizer,
        reporter=reporter,
        seed=cfg.seed,
        on_step=prep.plasticity,
        on_epoch=lambda epoch: epoch_metrics(prep),
        lr_at=schedule_of(cfg, prep.steps_per_epoch),
        curves=cfg.curves,
        label_smoothing=tc.label_smoothing,
    )
    return finish(cfg, ctx, prep, history, t_start)


def _snapshot(layer) -> dict[str, torch.Tensor]:
    if layer is None:
        return {}
    return {
        "weight": layer.weight.detach().cpu().clone(),
        "dense": layer.dense_weight().cpu(),
        "entropy": weight_entropy(layer.weight).cpu(),
    }
