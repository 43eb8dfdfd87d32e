"""Each hidden neuron's state and bias across IMP levels, and the lifetimes of zombies and comatose neurons.

A run's *neuron record* (:func:`track_neurons`) is small, JSON-ready run data: per level one
string with one letter per hidden neuron (layer after layer) and the neurons' trained biases.
The letters (docs/definitions.md's words; a weight is live when its mask is 1):

- ``a`` active: live incoming and live outgoing weights;
- ``z`` zombie: no live incoming weight, live outgoing ones (it emits its activated bias);
- ``c`` comatose: live incoming weights, no live outgoing one (it gets no gradient);
- ``d`` disconnected: neither (dead).

IMP only removes weights, so a neuron's state only moves a -> z, c or d, and z, c -> d.

*Lifetime* of a zombie (a comatose neuron alike): the number of levels it is a zombie, counted
from the first level L0 at which it is one up to, not including, the first later level L1 at
which it is not (its outgoing weights all pruned): L1 - L0 >= 1, the neuron *died* at L1. A
neuron still a zombie at the run's last level L is *censored*: it lived at least L - L0 + 1
levels and its death was not seen (the run ended, by its level budget or at its split).
Its *bias* is the trained bias at L0 (after that level's training; biases are rewound and
retrained every level like weights).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["STATES", "Episode", "neuron_states", "track_neurons", "episodes", "live_biases"]

STATES = {"a": "active", "z": "zombie", "c": "comatose", "d": "disconnected"}


@dataclass(frozen=True)
class Episode:
    """One neuron's time as a zombie (or comatose): see the module's docstring."""

    neuron: int  # index among the run's hidden neurons, layer after layer
    onset: int  # L0, the first level in the state
    lifetime: int  # levels in the state: L1 - L0 when it died, L - L0 + 1 when censored
    died: bool  # False: censored (still in the state at the last level)
    bias: float | None  # the trained bias at L0; None when the bias is pruned


def neuron_states(weight_masks: Sequence[np.ndarray]) -> str:
    """One letter (``STATES``) per hidden neuron, layer after layer; ``weight_masks[i]`` is layer i's [out, in]."""
    letters = []
    for inc, out in zip(weight_masks[:-1], weight_masks[1:]):
        has_in = (np.asarray(inc) != 0).any(axis=1)
        has_out = (np.asarray(out) != 0).any(axis=0)
        code = np.where(has_in, np.where(has_out, "a", "c"), np.where(has_out, "z", "d"))
        letters.append("".join(code.tolist()))
    return "".join(letters)


def _np(x: Any) -> np.ndarray:
    """A tensor (on any device) or array as a NumPy array."""
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def _round(x: float) -> float:
    return float(f"{x:.4g}")


def track_neurons(levels: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]) -> dict[str, Any]:
    """The neuron record of a run from its levels' (masks, trained parameters), by parameter name.

    ``{"hidden": [width, ...], "state": [letters per level], "bias": [[bias or None] per level]}``:
    biases are the trained values to 4 significant digits, None where the bias is pruned.
    """
    state, bias, hidden = [], [], []
    for masks, trained in levels:
        n = sum(1 for name in masks if name.endswith(".weight"))
        wm = [_np(masks[f"layers.{i}.weight"]) for i in range(n)]
        hidden = [m.shape[0] for m in wm[:-1]]
        state.append(neuron_states(wm))
        row = []
        for i in range(n - 1):
            values = _np(trained[f"layers.{i}.bias"]).astype(np.float64)
            live = _np(masks[f"layers.{i}.bias"]) != 0
            row += [_round(b) if ok else None for b, ok in zip(values.tolist(), live.tolist())]
        bias.append(row)
    return {"hidden": hidden, "state": state, "bias": bias}


def episodes(record: Mapping[str, Any], letter: str) -> list[Episode]:
    """Every neuron's episode in state ``letter`` (``z`` or ``c``) of one run's neuron record."""
    states: Sequence[str] = record["state"]
    last = len(states) - 1
    out = []
    for neuron in range(len(states[0]) if states else 0):
        onset = next((lv for lv, s in enumerate(states) if s[neuron] == letter), None)
        if onset is None:
            continue
        end = next((lv for lv in range(onset + 1, last + 1) if states[lv][neuron] != letter), None)
        lifetime = (end if end is not None else last + 1) - onset
        out.append(Episode(neuron, onset, lifetime, end is not None, record["bias"][onset][neuron]))
    return out


def live_biases(record: Mapping[str, Any], level: int) -> list[float]:
    """The unpruned biases at ``level`` of the hidden neurons with live outgoing weights (active or
    zombie: the neurons whose bias reaches the outputs)."""
    state, bias = record["state"][level], record["bias"][level]
    return [b for s, b in zip(state, bias) if s in "az" and b is not None]
